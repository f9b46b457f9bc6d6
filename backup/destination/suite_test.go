package destination

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/iotest"
)

// store is a destination under test: open gives a destination and a key
// prefix of the test's own; leftovers lists whatever the store holds under
// that prefix besides finished objects (temporary files, unfinished
// multipart uploads) — a failed Put must leave none.
type store struct {
	open      func(t *testing.T) (d *Destination, prefix string)
	leftovers func(t *testing.T, d *Destination, prefix string) []string
}

// exercise runs the behaviour every destination shares.
func exercise(t *testing.T, s store) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		d, p := s.open(t)
		ctx := context.Background()
		want := map[string][]byte{
			p + "a/one": []byte("first object"),
			p + "a/two": bytes.Repeat([]byte("2"), 4096),
			p + "b":     {},
		}
		for key, body := range want {
			n, err := d.Put(ctx, key, bytes.NewReader(body))
			if err != nil {
				t.Fatalf("Put(%s): %v", key, err)
			}
			if n != int64(len(body)) {
				t.Fatalf("Put(%s) = %d bytes, want %d", key, n, len(body))
			}
		}
		for key, body := range want {
			if got := get(t, d, key); !bytes.Equal(got, body) {
				t.Fatalf("Get(%s) = %q, want %q", key, got, body)
			}
		}
		objects := list(t, d, p)
		if keys := keysOf(objects); !slices.Equal(keys, []string{p + "a/one", p + "a/two", p + "b"}) {
			t.Fatalf("List(%s) = %v", p, keys)
		}
		for _, o := range objects {
			if o.Size != int64(len(want[o.Key])) || o.ModTime.IsZero() {
				t.Fatalf("List: %+v, want size %d and a modification time", o, len(want[o.Key]))
			}
		}
		if keys := keysOf(list(t, d, p+"a/")); !slices.Equal(keys, []string{p + "a/one", p + "a/two"}) {
			t.Fatalf("List(%sa/) = %v", p, keys)
		}
		if keys := keysOf(list(t, d, p+"a/t")); !slices.Equal(keys, []string{p + "a/two"}) {
			t.Fatalf("List(%sa/t) = %v", p, keys)
		}

		if _, err := d.Put(ctx, p+"a/one", bytes.NewReader([]byte("replaced"))); err != nil {
			t.Fatal(err)
		}
		if got := get(t, d, p+"a/one"); string(got) != "replaced" {
			t.Fatalf("after replacing: %q", got)
		}

		if err := d.Delete(ctx, p+"a/one"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Get(ctx, p+"a/one"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
		}
		if err := d.Delete(ctx, p+"a/one"); err != nil {
			t.Fatalf("Delete of a missing object: %v, want nil", err)
		}
		if keys := keysOf(list(t, d, p)); !slices.Equal(keys, []string{p + "a/two", p + "b"}) {
			t.Fatalf("List after Delete = %v", keys)
		}
		if objects := list(t, d, p+"nothing/"); len(objects) != 0 {
			t.Fatalf("List of an empty prefix = %v", objects)
		}
		noLeftovers(t, s, d, p)
	})

	t.Run("GetMissing", func(t *testing.T) {
		t.Parallel()
		d, p := s.open(t)
		_, err := d.Get(context.Background(), p+"missing")
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Op != "get" || e.Key != p+"missing" {
			t.Fatalf("error %#v does not name the operation and key", err)
		}
	})

	t.Run("Large", func(t *testing.T) {
		t.Parallel()
		d, p := s.open(t)
		const size = 20 << 20 // above the 16 MiB at which uploads go multipart
		ctx := context.Background()
		n, err := d.Put(ctx, p+"large", io.LimitReader(random(1), size))
		if err != nil {
			t.Fatal(err)
		}
		if n != size {
			t.Fatalf("Put = %d bytes, want %d", n, size)
		}
		want := sha256.New()
		io.Copy(want, io.LimitReader(random(1), size))
		r, err := d.Get(ctx, p+"large")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got := sha256.New()
		if m, err := io.Copy(got, r); err != nil || m != size {
			t.Fatalf("read back %d bytes, %v", m, err)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatal("the object read back differs from what was put")
		}
		if objects := list(t, d, p); len(objects) != 1 || objects[0].Size != size {
			t.Fatalf("List = %+v", objects)
		}
		noLeftovers(t, s, d, p)
	})

	// A Put that fails leaves nothing: small objects (one request) and
	// large ones (a multipart upload under way), a new key and a replaced
	// one (which keeps its old content).
	for _, size := range []struct {
		name string
		n    int64
	}{{"Small", 1 << 20}, {"Multipart", 18 << 20}} {
		t.Run("ReaderFails"+size.name, func(t *testing.T) {
			t.Parallel()
			d, p := s.open(t)
			ctx := context.Background()
			if _, err := d.Put(ctx, p+"old", bytes.NewReader([]byte("old"))); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("source broke")
			for _, key := range []string{p + "new", p + "old"} {
				n, err := d.Put(ctx, key, io.MultiReader(io.LimitReader(random(2), size.n), iotest.ErrReader(boom)))
				if !errors.Is(err, boom) {
					t.Fatalf("Put(%s) with a failing reader: %v, want the reader's error", key, err)
				}
				if n != 0 {
					t.Fatalf("failed Put reports %d bytes", n)
				}
			}
			if keys := keysOf(list(t, d, p)); !slices.Equal(keys, []string{p + "old"}) {
				t.Fatalf("after failed Puts, List = %v, want only the old object", keys)
			}
			if got := get(t, d, p+"old"); string(got) != "old" {
				t.Fatalf("a failed replace changed the object to %d bytes", len(got))
			}
			noLeftovers(t, s, d, p)
		})

		t.Run("Cancel"+size.name, func(t *testing.T) {
			t.Parallel()
			d, p := s.open(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The reader never ends by itself: it cancels ctx once it has
			// yielded size.n bytes, and only that stops the Put.
			r := &cancelAfter{r: random(3), left: size.n, cancel: cancel}
			n, err := d.Put(ctx, p+"cancelled", r)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Put with its context cancelled: %v, want context.Canceled", err)
			}
			if n != 0 {
				t.Fatalf("cancelled Put reports %d bytes", n)
			}
			if objects := list(t, d, p); len(objects) != 0 {
				t.Fatalf("after a cancelled Put, List = %v", keysOf(objects))
			}
			noLeftovers(t, s, d, p)
		})
	}

	t.Run("CancelledBefore", func(t *testing.T) {
		t.Parallel()
		d, p := s.open(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := d.Put(ctx, p+"x", bytes.NewReader([]byte("x"))); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with a cancelled context: %v", err)
		}
		if objects := list(t, d, p); len(objects) != 0 {
			t.Fatalf("List = %v", keysOf(objects))
		}
	})

	t.Run("BadKeys", func(t *testing.T) {
		t.Parallel()
		d, p := s.open(t)
		ctx := context.Background()
		for _, key := range []string{"", "/abs", p + "../escape", p + "a//b", p + `a\b`, p + "dir/", p + "./x"} {
			var ke *KeyError
			if _, err := d.Put(ctx, key, bytes.NewReader(nil)); !errors.As(err, &ke) {
				t.Errorf("Put(%q): %v, want a *KeyError", key, err)
			}
			if _, err := d.Get(ctx, key); !errors.As(err, &ke) {
				t.Errorf("Get(%q): %v, want a *KeyError", key, err)
			}
			if err := d.Delete(ctx, key); !errors.As(err, &ke) {
				t.Errorf("Delete(%q): %v, want a *KeyError", key, err)
			}
		}
		for _, prefix := range []string{"/", "/abs", "../", p + "a//", `a\`} {
			var ke *KeyError
			if _, err := d.List(ctx, prefix); !errors.As(err, &ke) {
				t.Errorf("List(%q): %v, want a *KeyError", prefix, err)
			}
		}
	})
}

// get reads the whole object.
func get(t *testing.T, d *Destination, key string) []byte {
	t.Helper()
	r, err := d.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("Get(%s): read: %v", key, err)
	}
	return b
}

// list lists the prefix.
func list(t *testing.T, d *Destination, prefix string) []Object {
	t.Helper()
	objects, err := d.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%s): %v", prefix, err)
	}
	return objects
}

func keysOf(objects []Object) []string {
	keys := make([]string, len(objects))
	for i, o := range objects {
		keys[i] = o.Key
	}
	return keys
}

// noLeftovers fails the test if the store holds anything under the prefix
// besides finished objects.
func noLeftovers(t *testing.T, s store, d *Destination, prefix string) {
	t.Helper()
	if left := s.leftovers(t, d, prefix); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// random is a deterministic stream of bytes that never ends.
func random(seed byte) io.Reader {
	return rand.NewChaCha8([32]byte{seed})
}

// cancelAfter reads from r and calls cancel once it has yielded left bytes,
// yielding more for as long as it is read.
type cancelAfter struct {
	r      io.Reader
	left   int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
