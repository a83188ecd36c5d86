package datasource

import "context"

// StorageBytes measures the storage of the tenant carried by ctx: the
// tables, indexes and TOAST of its schema (PostgreSQL, whatever the
// placement) or the pages of its file (SQLite). It reads catalog figures,
// not the rows, so it is cheap enough to sample once a minute. Errors are
// those of InReadTx.
func (ds *TenantAwareDataSource) StorageBytes(ctx context.Context) (int64, error) {
	var n int64
	err := ds.InReadTx(ctx, func(tx *Tx) error {
		q := `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
			JOIN pg_namespace s ON s.oid = c.relnamespace
			WHERE s.nspname = current_schema() AND c.relkind IN ('r', 'm')`
		if tx.Dialect() == SQLite {
			q = `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
		}
		return tx.GetContext(ctx, &n, q)
	})
	return n, err
}
