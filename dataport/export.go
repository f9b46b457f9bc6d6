package dataport

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The formats of an export's tables.
const (
	FormatJSON = "json" // tables/<name>.json: {"table", "columns", "rows": [[…], …]}
	FormatCSV  = "csv"  // tables/<name>.csv: a header of column names, \N for NULL
	FormatSQL  = "sql"  // tables/<name>.sql: one INSERT statement per row
)

// Formats lists the export formats.
var Formats = []string{FormatJSON, FormatCSV, FormatSQL}

// ManifestName is the export's manifest, the zip's first entry.
const ManifestName = "export.json"

// exportKind is the manifest's format marker.
const exportKind = "tenancy-export"

// ErrNotExport is a file that is not an export of this tool, or a
// damaged one.
var ErrNotExport = errors.New("not a tenancy export")

// Manifest describes an export: whose data, from which engine and
// migration version, and every part with its size and SHA-256.
type Manifest struct {
	Kind             string      `json:"kind"`
	Version          int         `json:"version"`
	Format           string      `json:"format"`
	Tenant           TenantInfo  `json:"tenant"`
	Engine           string      `json:"engine"`
	Mode             string      `json:"mode"`
	MigrationVersion int64       `json:"migration_version"`
	CreatedAt        time.Time   `json:"created_at"`
	Tables           []TableInfo `json:"tables"`
	Files            []FileInfo  `json:"files"`
}

// TenantInfo names the exported tenant.
type TenantInfo struct {
	UUID   string `json:"uuid"`
	Name   string `json:"name"`
	Domain string `json:"domain"`
}

// TableInfo is an exported table.
type TableInfo struct {
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	Rows    int64    `json:"rows"`
	File    string   `json:"file"`
	Size    int64    `json:"size"`
	SHA256  string   `json:"sha256"`
}

// FileInfo is an exported file of the tenant's storage.
type FileInfo struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ExportOptions say what to export.
type ExportOptions struct {
	// Format is json, csv or sql.
	Format string
	// Tables limits the export to these tables (nil: all).
	Tables []string
	// Omit leaves these columns out of every table (the tenant column of
	// shared tables).
	Omit []string
	// FilesDir is the tenant's storage root ("": no files).
	FilesDir string
	// Manifest fills the manifest's description (tenant, engine, mode,
	// migration version, time); the parts are added by Export.
	Manifest Manifest
}

// CheckTables returns the tables of want, all of have when want is
// empty, or an *Error naming an unknown one.
func CheckTables(have, want []string) ([]string, error) {
	if len(want) == 0 {
		return have, nil
	}
	var out []string
	for _, t := range want {
		t = strings.TrimSpace(t)
		if !slices.Contains(have, t) {
			return nil, &Error{Table: t, Reason: fmt.Sprintf("unknown table (the tenant has %s)", strings.Join(have, ", "))}
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Export writes an export of db's tables (and the tenant's files) to w as
// a zip. Run it in a read-only repeatable-read transaction for a
// consistent copy.
func Export(ctx context.Context, db Querier, dialect string, w io.Writer, opts ExportOptions) (*Manifest, error) {
	if !slices.Contains(Formats, opts.Format) {
		return nil, &Error{Table: "", Reason: fmt.Sprintf("unknown format %q (json, csv or sql)", opts.Format)}
	}
	have, err := Tables(ctx, db, dialect)
	if err != nil {
		return nil, err
	}
	tables, err := CheckTables(have, opts.Tables)
	if err != nil {
		return nil, err
	}
	m := opts.Manifest
	m.Kind, m.Version, m.Format = exportKind, 1, opts.Format
	m.Tables, m.Files = []TableInfo{}, []FileInfo{}
	zw := zip.NewWriter(w)
	for _, t := range tables {
		name := "tables/" + t + "." + opts.Format
		fw, err := zw.Create(name)
		if err != nil {
			return nil, err
		}
		info, err := WriteTable(ctx, db, dialect, t, opts.Omit, opts.Format, fw)
		if err != nil {
			return nil, err
		}
		info.File = name
		m.Tables = append(m.Tables, info)
	}
	if opts.FilesDir != "" {
		if m.Files, err = addFiles(zw, opts.FilesDir); err != nil {
			return nil, err
		}
	}
	fw, err := zw.Create(ManifestName)
	if err != nil {
		return nil, err
	}
	enc := json.NewEncoder(fw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&m); err != nil {
		return nil, err
	}
	return &m, zw.Close()
}

// countingHash counts and hashes what is written through it.
type countingHash struct {
	w    io.Writer
	h    hashWriter
	size int64
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func newCountingHash(w io.Writer) *countingHash { return &countingHash{w: w, h: sha256.New()} }

func (c *countingHash) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.size += int64(n)
	return n, err
}

func (c *countingHash) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// WriteTable writes table of db in format to w and describes it (File
// left empty).
func WriteTable(ctx context.Context, db Querier, dialect, table string, omit []string, format string, w io.Writer) (TableInfo, error) {
	cw := newCountingHash(w)
	tw, err := newTableWriter(format, table, cw)
	if err != nil {
		return TableInfo{}, err
	}
	var cols []Column
	n, err := Dump(ctx, db, dialect, table, omit, func(c []Column) error {
		cols = c
		return tw.start(c)
	}, tw.row)
	if err != nil {
		return TableInfo{}, err
	}
	if err := tw.end(); err != nil {
		return TableInfo{}, err
	}
	return TableInfo{Name: table, Columns: cols, Rows: n, Size: cw.size, SHA256: cw.sum()}, nil
}

// addFiles adds the files under dir as files/… entries.
func addFiles(zw *zip.Writer, dir string) ([]FileInfo, error) {
	out := []FileInfo{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		name := "files/" + filepath.ToSlash(rel)
		fw, err := zw.Create(name)
		if err != nil {
			return err
		}
		cw := newCountingHash(fw)
		if _, err := io.Copy(cw, f); err != nil {
			return err
		}
		out = append(out, FileInfo{Path: name, Size: cw.size, SHA256: cw.sum()})
		return nil
	})
	return out, err
}

// Archive is an export opened for import.
type Archive struct {
	Manifest
	zr    *zip.ReadCloser
	parts map[string]*zip.File
}

// Open opens and checks an export: its manifest, the names of its
// entries, and that every part it lists is there; Verify checks the
// contents.
func Open(file string) (*Archive, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a zip file", ErrNotExport, file)
	}
	a := &Archive{zr: zr, parts: map[string]*zip.File{}}
	if err := a.check(); err != nil {
		zr.Close()
		return nil, err
	}
	return a, nil
}

func (a *Archive) check() error {
	for _, f := range a.zr.File {
		if !safeName(f.Name) {
			return fmt.Errorf("%w: unsafe entry name %q", ErrNotExport, f.Name)
		}
		if _, dup := a.parts[f.Name]; dup {
			return fmt.Errorf("%w: entry %q appears twice", ErrNotExport, f.Name)
		}
		a.parts[f.Name] = f
	}
	mf, ok := a.parts[ManifestName]
	if !ok {
		return fmt.Errorf("%w: no %s", ErrNotExport, ManifestName)
	}
	r, err := mf.Open()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotExport, err)
	}
	defer r.Close()
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a.Manifest); err != nil {
		return fmt.Errorf("%w: bad manifest: %v", ErrNotExport, err)
	}
	m := &a.Manifest
	if m.Kind != exportKind || m.Version != 1 {
		return fmt.Errorf("%w: the manifest is not of a version-1 tenancy export", ErrNotExport)
	}
	if !slices.Contains(Formats, m.Format) {
		return fmt.Errorf("%w: unknown format %q", ErrNotExport, m.Format)
	}
	listed := map[string]bool{ManifestName: true}
	for _, t := range m.Tables {
		if t.Name == "" || t.File != "tables/"+t.Name+"."+m.Format || a.parts[t.File] == nil || len(t.Columns) == 0 {
			return fmt.Errorf("%w: table %q: its part is missing or misnamed", ErrNotExport, t.Name)
		}
		listed[t.File] = true
	}
	for _, f := range m.Files {
		if !strings.HasPrefix(f.Path, "files/") || a.parts[f.Path] == nil {
			return fmt.Errorf("%w: file %q is missing", ErrNotExport, f.Path)
		}
		listed[f.Path] = true
	}
	for name := range a.parts {
		if !listed[name] && !strings.HasSuffix(name, "/") {
			return fmt.Errorf("%w: entry %q is not in the manifest", ErrNotExport, name)
		}
	}
	return nil
}

// safeName reports whether an entry name stays inside the archive's
// tree: relative, slash-separated, no "..", no backslashes.
func safeName(name string) bool {
	if name == "" || strings.Contains(name, `\`) || strings.HasPrefix(name, "/") || strings.Contains(name, "\x00") {
		return false
	}
	clean := path.Clean(name)
	if strings.HasSuffix(name, "/") {
		clean += "/"
	}
	return clean == name && clean != ".." && !strings.HasPrefix(clean, "../")
}

// Close closes the archive.
func (a *Archive) Close() error { return a.zr.Close() }

// Verify reads every part and checks its size and SHA-256 against the
// manifest.
func (a *Archive) Verify() error {
	check := func(name string, size int64, sum string) error {
		r, err := a.parts[name].Open()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrNotExport, name, err)
		}
		defer r.Close()
		cw := newCountingHash(io.Discard)
		if _, err := io.Copy(cw, r); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrNotExport, name, err)
		}
		if cw.size != size || cw.sum() != sum {
			return fmt.Errorf("%w: %s does not match its checksum", ErrNotExport, name)
		}
		return nil
	}
	for _, t := range a.Tables {
		if err := check(t.File, t.Size, t.SHA256); err != nil {
			return err
		}
	}
	for _, f := range a.Files {
		if err := check(f.Path, f.Size, f.SHA256); err != nil {
			return err
		}
	}
	return nil
}

// LoadTable inserts the rows of an exported table into the table of the
// same name in db (see Load and the package LoadTable).
func (a *Archive) LoadTable(ctx context.Context, db Execer, dialect string, t TableInfo, resetSequences bool) (int64, error) {
	r, err := a.parts[t.File].Open()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return LoadTable(ctx, db, dialect, a.Format, t, r, resetSequences)
}

// LoadTable inserts the rows of table t, read from r in format, into the
// table of the same name in db, and with resetSequences moves the
// table's sequences past the rows loaded (not for tables whose sequences
// other tenants share).
func LoadTable(ctx context.Context, db Execer, dialect, format string, t TableInfo, r io.Reader, resetSequences bool) (int64, error) {
	tr, err := newTableReader(format, t, r)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	n, err := Load(ctx, db, dialect, t.Name, names, tr.next)
	if err != nil {
		return n, err
	}
	if n != t.Rows {
		return n, fmt.Errorf("%w: table %s holds %d rows, the manifest says %d", ErrNotExport, t.Name, n, t.Rows)
	}
	if !resetSequences {
		return n, nil
	}
	return n, ResetSequences(ctx, db, dialect, t.Name)
}

// ExtractFiles writes the exported files under dir (which must exist).
func (a *Archive) ExtractFiles(dir string) error {
	for _, f := range a.Files {
		rel := strings.TrimPrefix(f.Path, "files/")
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		r, err := a.parts[f.Path].Open()
		if err != nil {
			return err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			r.Close()
			return err
		}
		_, err = io.Copy(out, r)
		r.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
