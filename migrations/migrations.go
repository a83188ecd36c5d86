package migrations

import (
	"embed"
	"errors"
	"io/fs"
	"path"
	"sort"
)

//go:embed primary tenant
var files embed.FS

// Dialects with their own override folders.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Primary returns the primary datasource's migrations for a dialect.
func Primary(dialect string) fs.FS { return overlay{base: "primary", dialect: dialect} }

// Tenant returns a tenant storage's migrations for a dialect.
func Tenant(dialect string) fs.FS { return overlay{base: "tenant", dialect: dialect} }

// overlay is a read-only file system over one history: the portable files at
// its root, with files of the same name under <dialect>/ taking their place.
type overlay struct{ base, dialect string }

var _ fs.ReadDirFS = overlay{}

func (o overlay) resolve(name string) string {
	if o.dialect != "" {
		p := path.Join(o.base, o.dialect, name)
		if _, err := fs.Stat(files, p); err == nil {
			return p
		}
	}
	return path.Join(o.base, name)
}

// Open opens a migration file, the dialect's version if there is one.
func (o overlay) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return files.Open(o.base)
	}
	return files.Open(o.resolve(name))
}

// ReadDir lists the root: the portable .sql files (a dialect override never
// adds a version of its own).
func (o overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	all, err := files.ReadDir(o.base)
	if err != nil {
		return nil, err
	}
	var out []fs.DirEntry
	for _, e := range all {
		if !e.IsDir() && path.Ext(e.Name()) == ".sql" {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Check verifies that every dialect override replaces a portable file, so
// both dialects share one list of versions.
func Check() error {
	var errs []error
	for _, base := range []string{"primary", "tenant"} {
		for _, d := range []string{Postgres, SQLite} {
			entries, err := files.ReadDir(path.Join(base, d))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return err
			}
			for _, e := range entries {
				if _, err := fs.Stat(files, path.Join(base, e.Name())); err != nil {
					errs = append(errs, errors.New(base+"/"+d+"/"+e.Name()+" overrides no portable migration"))
				}
			}
		}
	}
	return errors.Join(errs...)
}
