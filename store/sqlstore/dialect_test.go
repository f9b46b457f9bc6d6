package sqlstore

import "testing"

func TestRebind(t *testing.T) {
	t.Parallel()
	numbered := &Dialect{NumberedPlaceholders: true}
	for query, want := range map[string]string{
		`SELECT 1`:                              `SELECT 1`,
		`WHERE a = ? AND b IN (?,?)`:            `WHERE a = $1 AND b IN ($2,$3)`,
		`WHERE a = '?' AND b = ?`:               `WHERE a = '?' AND b = $1`,
		`WHERE a = '' AND b LIKE ? ESCAPE '!'`:  `WHERE a = '' AND b LIKE $1 ESCAPE '!'`,
		`SET x = 'it''s ?', y = ?`:              `SET x = 'it''s ?', y = $1`,
		`VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`: `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
	} {
		if got := numbered.rebind(query); got != want {
			t.Errorf("rebind(%q) = %q, want %q", query, got, want)
		}
		if got := (&Dialect{}).rebind(query); got != query {
			t.Errorf("rebind(%q) with ? placeholders = %q", query, got)
		}
	}
}

func TestDecodeObject(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "{}", "null"} {
		m, err := decodeObject(text)
		if err != nil || m == nil || len(m) != 0 {
			t.Errorf("decodeObject(%q) = %#v, %v; want an empty map", text, m, err)
		}
	}
	if _, err := decodeObject("[1]"); err == nil {
		t.Error("decodeObject of an array succeeded")
	}
}
