package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrInvalidTenant means a tenant id is not a canonical lower-case UUID
// (8-4-4-4-12 hexadecimal digits).
var ErrInvalidTenant = errors.New("invalid tenant id")

// Config configures a Storage.
type Config struct {
	// Dir is the base directory holding one directory per tenant; required.
	// It is created (0o755) if missing.
	Dir string
}

// Storage gives each tenant a directory <Dir>/<tenant uuid>, opened with
// os.OpenRoot so that no path can escape it. It is safe for concurrent use
// and holds no open files itself.
type Storage struct {
	dir string
}

// New returns a Storage over cfg.Dir, creating the directory if needed.
func New(cfg *Config) (*Storage, error) {
	if cfg == nil || cfg.Dir == "" {
		return nil, errors.New("storage: Config.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return &Storage{dir: dir}, nil
}

// Dir returns the absolute base directory.
func (s *Storage) Dir() string { return s.dir }

// path returns the directory of a valid tenant id.
func (s *Storage) path(tenant string) (string, error) {
	if !validTenant(tenant) {
		return "", fmt.Errorf("storage: %w: %q", ErrInvalidTenant, tenant)
	}
	return filepath.Join(s.dir, tenant), nil
}

// Path returns the tenant's directory (which may not exist yet).
func (s *Storage) Path(tenant string) (string, error) { return s.path(tenant) }

// Root opens the tenant's root, creating its directory (0o755) if needed.
// The caller closes it.
func (s *Storage) Root(tenant string) (*os.Root, error) {
	dir, err := s.path(tenant)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("storage: create root of tenant %s: %w", tenant, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: open root of tenant %s: %w", tenant, err)
	}
	return root, nil
}

// Remove deletes the tenant's directory and everything in it. Removing a
// tenant that has no directory succeeds. Roots still open on it see an
// empty, deleted directory.
func (s *Storage) Remove(tenant string) error {
	dir, err := s.path(tenant)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("storage: remove tenant %s: %w", tenant, err)
	}
	return nil
}

// Usage returns the bytes held by the regular files in the tenant's
// directory; 0 when it has none. Symbolic links are not followed.
func (s *Storage) Usage(tenant string) (int64, error) {
	dir, err := s.path(tenant)
	if err != nil {
		return 0, err
	}
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage: usage of tenant %s: %w", tenant, err)
	}
	defer root.Close()
	var total int64
	err = fs.WalkDir(root.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while walking
		}
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: usage of tenant %s: %w", tenant, err)
	}
	return total, nil
}

// validTenant reports whether id is a canonical lower-case UUID:
// 8-4-4-4-12 digits of [0-9a-f] separated by hyphens.
func validTenant(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
