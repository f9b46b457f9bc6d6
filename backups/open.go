package backups

import (
	"context"
	"errors"
	"io"

	"github.com/gotenancy/tenancy/model"
)

// Open returns the archive of backup b, read from its destination, for a
// download. Closing it closes the destination too. It reads the archive
// as stored: it checks neither the state of b nor its checksum.
func (s *Service) Open(ctx context.Context, b *model.Backup) (io.ReadCloser, error) {
	dest, err := s.cfg.Open(ctx, b.Destination)
	if err != nil {
		return nil, s.classify(err)
	}
	rc, err := dest.Get(ctx, b.Key)
	if err != nil {
		_ = dest.Close()
		return nil, s.classify(err)
	}
	return &archiveReader{ReadCloser: rc, dest: dest}, nil
}

// archiveReader is an archive being read from its destination.
type archiveReader struct {
	io.ReadCloser
	dest Destination
}

// Close closes the archive, then its destination.
func (r *archiveReader) Close() error {
	return errors.Join(r.ReadCloser.Close(), r.dest.Close())
}
