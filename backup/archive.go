// Package backup reads and writes tenant backup archives.
//
// An archive is a tar stream, optionally compressed with zstd, optionally
// encrypted to age recipients (in that order: tar, then zstd, then age).
// Its entries are, in order:
//
//	header.json      what the archive holds (Header), first, so that a
//	                 reader can refuse a backup of another engine or of a
//	                 newer migration version before reading the rest
//	database/…       the tenant database: database/tenant.sqlite (SQLite's
//	                 own file) or database/rows.zip (a dataport export of
//	                 every table, for the server engines)
//	files/…          the tenant's storage root, one entry per file
//	manifest.json    the header again with every part's size and SHA-256
//
// A reader extracts into a directory and checks every part against the
// manifest; an archive with a missing, extra, altered or truncated part,
// an entry name that is not clean (absolute, "..", backslashes), or any
// entry type but regular files is refused with ErrCorrupt.
package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
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
	"strings"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// FormatVersion is the archive format this package writes and reads.
const FormatVersion = 1

// Entry names.
const (
	HeaderName   = "header.json"
	ManifestName = "manifest.json"
	// DatabaseDir holds the database part, FilesDir the tenant's files.
	DatabaseDir = "database/"
	FilesDir    = "files/"
)

// Errors of a reader; each is wrapped with what was wrong.
var (
	// ErrCorrupt: not an archive of this format, truncated, a part that
	// does not match its checksum, a bad entry name.
	ErrCorrupt = errors.New("backup archive is corrupt")
	// ErrIdentity: the archive is encrypted and no identity given
	// decrypts it.
	ErrIdentity = errors.New("backup archive cannot be decrypted with the given identity")
)

// Header says what an archive holds.
type Header struct {
	Format     int    `json:"format"`
	ID         string `json:"id"`
	TenantUUID string `json:"tenant_uuid"`
	// Engine ("sqlite", "postgres", "mysql") and Mode (the tenant
	// database mode, e.g. "postgres-schema") of the database part.
	Engine           string    `json:"engine"`
	Mode             string    `json:"mode"`
	MigrationVersion int64     `json:"migration_version"`
	CreatedAt        time.Time `json:"created_at"`
}

// Part is one entry of an archive with its size and checksum.
type Part struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest is the header plus every part, the archive's last entry.
type Manifest struct {
	Header
	Parts []Part `json:"parts"`
}

// Size is the sum of the parts' sizes.
func (m *Manifest) Size() int64 {
	var n int64
	for _, p := range m.Parts {
		n += p.Size
	}
	return n
}

// WriterOptions choose the archive's outer layers.
type WriterOptions struct {
	// Compress compresses the tar stream with zstd.
	Compress bool
	// Recipients, when any, encrypt the archive to them with age.
	Recipients []age.Recipient
}

// Writer writes one archive.
type Writer struct {
	layers []io.Closer // closed innermost first
	tw     *tar.Writer
	m      Manifest
	names  map[string]bool
	at     time.Time
}

// NewWriter starts an archive with header h on w. The caller closes the
// Writer (which writes the manifest) and then w.
func NewWriter(w io.Writer, h Header, opts WriterOptions) (*Writer, error) {
	h.Format = FormatVersion
	bw := &Writer{m: Manifest{Header: h}, names: map[string]bool{}, at: h.CreatedAt}
	out := w
	if len(opts.Recipients) > 0 {
		ew, err := age.Encrypt(out, opts.Recipients...)
		if err != nil {
			return nil, fmt.Errorf("backup: encrypt: %w", err)
		}
		bw.layers = append(bw.layers, ew)
		out = ew
	}
	if opts.Compress {
		zw, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			return nil, fmt.Errorf("backup: compress: %w", err)
		}
		bw.layers = append(bw.layers, zw)
		out = zw
	}
	bw.tw = tar.NewWriter(out)
	head, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if err := bw.entry(HeaderName, bytes.NewReader(head), int64(len(head))); err != nil {
		return nil, err
	}
	return bw, nil
}

// Add writes a part of size bytes read from r under name (a clean slash
// path under DatabaseDir or FilesDir).
func (w *Writer) Add(name string, r io.Reader, size int64) error {
	if err := checkPartName(name); err != nil {
		return err
	}
	if w.names[name] {
		return fmt.Errorf("backup: part %q written twice", name)
	}
	h := sha256.New()
	if err := w.entry(name, io.TeeReader(r, h), size); err != nil {
		return err
	}
	w.names[name] = true
	w.m.Parts = append(w.m.Parts, Part{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// AddFile writes the file at path as the part name.
func (w *Writer) AddFile(name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return w.Add(name, f, st.Size())
}

// AddDir writes every regular file under dir as a part under prefix
// (symbolic links and other special files are skipped); a missing dir
// adds nothing.
func (w *Writer) AddDir(prefix, dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return w.AddFile(prefix+filepath.ToSlash(rel), p)
	})
	if err != nil {
		return fmt.Errorf("backup: files of %s: %w", dir, err)
	}
	return nil
}

// entry writes one tar entry of exactly size bytes.
func (w *Writer) entry(name string, r io.Reader, size int64) error {
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: w.at, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("backup: %s: %w", name, err)
	}
	n, err := io.Copy(w.tw, r)
	if err == nil && n != size {
		err = fmt.Errorf("read %d bytes, want %d (the file changed while being backed up)", n, size)
	}
	if err != nil {
		return fmt.Errorf("backup: %s: %w", name, err)
	}
	return nil
}

// Close writes the manifest and closes the layers; it returns the
// manifest.
func (w *Writer) Close() (*Manifest, error) {
	data, err := json.MarshalIndent(w.m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := w.entry(ManifestName, bytes.NewReader(data), int64(len(data))); err != nil {
		return nil, err
	}
	if err := w.tw.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	for i := len(w.layers) - 1; i >= 0; i-- {
		if err := w.layers[i].Close(); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	m := w.m
	return &m, nil
}

// checkPartName refuses names that are not clean relative slash paths
// under DatabaseDir or FilesDir.
func checkPartName(name string) error {
	if !strings.HasPrefix(name, DatabaseDir) && !strings.HasPrefix(name, FilesDir) {
		return fmt.Errorf("%w: entry %q is outside database/ and files/", ErrCorrupt, name)
	}
	if strings.Contains(name, `\`) || strings.ContainsRune(name, 0) || path.Clean(name) != name || !fs.ValidPath(name) {
		return fmt.Errorf("%w: entry name %q is not a clean relative path", ErrCorrupt, name)
	}
	return nil
}

// ReadOptions are what a reader needs besides the archive.
type ReadOptions struct {
	// Identities decrypt an encrypted archive.
	Identities []age.Identity
	// Check, when set, is called with the header before anything else is
	// read; an error stops the read (a backup of another engine, of a
	// newer migration version).
	Check func(Header) error
}

// ageMagic and zstdMagic start encrypted and compressed archives.
var (
	ageMagic  = []byte("age-encryption.org/")
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Extract reads an archive from r into dir (which must exist and be
// empty), checking each part against the manifest, and returns the
// manifest. On error dir may hold some parts; the caller removes it.
func Extract(r io.Reader, dir string, opts ReadOptions) (*Manifest, error) {
	br := bufio.NewReader(r)
	in := io.Reader(br)
	if head, _ := br.Peek(len(ageMagic)); bytes.Equal(head, ageMagic) {
		if len(opts.Identities) == 0 {
			return nil, fmt.Errorf("%w: the archive is encrypted; give an identity", ErrIdentity)
		}
		dr, err := age.Decrypt(br, opts.Identities...)
		if err != nil {
			var noMatch *age.NoIdentityMatchError
			if errors.As(err, &noMatch) {
				return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
			}
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		br = bufio.NewReader(dr)
		in = br
	}
	if head, _ := br.Peek(len(zstdMagic)); bytes.Equal(head, zstdMagic) {
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		defer zr.Close()
		in = zr
	}
	return extractTar(tar.NewReader(in), dir, opts)
}

// maxMeta bounds the header and the manifest.
const maxMeta = 16 << 20

func extractTar(tr *tar.Reader, dir string, opts ReadOptions) (*Manifest, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	th, err := tr.Next()
	if err != nil {
		return nil, corrupt("not a backup archive (%v)", err)
	}
	if th.Name != HeaderName {
		return nil, corrupt("not a backup archive: it starts with %q, not %s", th.Name, HeaderName)
	}
	var h Header
	if err := readJSON(tr, &h); err != nil {
		return nil, corrupt("header: %v", err)
	}
	if h.Format != FormatVersion {
		return nil, corrupt("archive format %d; this version reads format %d", h.Format, FormatVersion)
	}
	if opts.Check != nil {
		if err := opts.Check(h); err != nil {
			return nil, err
		}
	}
	got := map[string]Part{}
	for {
		th, err := tr.Next()
		if err != nil {
			return nil, corrupt("truncated: no manifest (%v)", err)
		}
		if th.Name == ManifestName {
			var m Manifest
			if err := readJSON(tr, &m); err != nil {
				return nil, corrupt("manifest: %v", err)
			}
			if _, err := tr.Next(); err != io.EOF {
				return nil, corrupt("entries after the manifest")
			}
			if m.Header != h {
				return nil, corrupt("the manifest's header differs from the archive's header")
			}
			if len(m.Parts) != len(got) {
				return nil, corrupt("the manifest lists %d parts, the archive holds %d", len(m.Parts), len(got))
			}
			for _, p := range m.Parts {
				if g, ok := got[p.Name]; !ok {
					return nil, corrupt("part %q of the manifest is missing", p.Name)
				} else if g != p {
					return nil, corrupt("part %q does not match its checksum", p.Name)
				}
			}
			return &m, nil
		}
		if th.Typeflag != tar.TypeReg {
			return nil, corrupt("entry %q is not a regular file", th.Name)
		}
		if err := checkPartName(th.Name); err != nil {
			return nil, err
		}
		if _, dup := got[th.Name]; dup {
			return nil, corrupt("entry %q appears twice", th.Name)
		}
		p, err := extractPart(tr, th, dir)
		if err != nil {
			return nil, err
		}
		got[th.Name] = p
	}
}

// extractPart writes one entry under dir and returns its size and
// checksum.
func extractPart(tr *tar.Reader, th *tar.Header, dir string) (Part, error) {
	dst := filepath.Join(dir, filepath.FromSlash(th.Name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return Part{}, fmt.Errorf("backup: %w", err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Part{}, fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), tr)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader) {
			return Part{}, fmt.Errorf("%w: truncated in %q", ErrCorrupt, th.Name)
		}
		return Part{}, fmt.Errorf("%w: %q: %v", ErrCorrupt, th.Name, err)
	}
	return Part{Name: th.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func readJSON(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxMeta+1))
	if err != nil {
		return err
	}
	if len(data) > maxMeta {
		return errors.New("too large")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
