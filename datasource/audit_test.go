package datasource_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// Entries appended together share an operation and are all kept, however
// many (a change to a user of thousands of tenants writes one per
// tenant); each keeps what it said, nulls included.
func TestAppendAuditKeepsEveryEntryOfAnOperation(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		p := dstest.Open(t, kind, nil).Sources.Primary
		ctx := context.Background()
		for _, n := range []int{1, 4500} {
			entries := make([]*datasource.AuditEntry, n)
			for i := range entries {
				entries[i] = &datasource.AuditEntry{Tenant: fmt.Sprintf("t%d", i), UserID: fmt.Sprintf("u%d", n),
					OperationType: "Update", EntityType: "User", Category: "Admin", Property: "email", NewValue: ptr(fmt.Sprint(i))}
			}
			if err := p.AppendAudit(ctx, entries...); err != nil {
				t.Fatalf("%d entries: %v", n, err)
			}
			got, err := p.ListAudit(ctx, &datasource.AuditQuery{AllTenants: true, UserID: fmt.Sprintf("u%d", n), MaxResults: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("%d entries appended, %d kept", n, len(got))
			}
			ops := map[string]bool{}
			for _, e := range got {
				ops[e.OperationID] = true
				if e.OrgValue != nil || e.NewValue == nil || e.Tenant != "t"+*e.NewValue {
					t.Fatalf("entry %+v: values mixed up", e)
				}
			}
			if len(ops) != 1 {
				t.Fatalf("%d entries of one append have %d operation IDs", n, len(ops))
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }
