// Package dataport copies a tenant's tables out of and into its database
// in a portable form, through database/sql and whatever engine is behind
// it: Tables lists them, Dump reads a table's rows as portable values,
// Load writes rows into a table converting each value to the target
// column's type. Exports and imports (json, csv and sql files in a zip:
// export.go) and the logical backups of the engines whose databases are
// not single files are built on it, so that data moves between engines
// (an SQLite tenant imports into postgres-schema).
//
// Portable values are nil, int64, float64, bool, string (text, and
// decimals kept exact), []byte and time.Time.
package dataport

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VersionTable is the migrations' version table, which dumps leave out:
// the target records its own migrations.
const VersionTable = "goose_db_version"

// Column is a column of a dumped table: its name and the type its
// database declared (as database/sql reports it, upper case).
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Querier runs queries: a *sql.DB, *sql.Tx or *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Execer runs statements: a *sql.DB, *sql.Tx or *sql.Conn.
type Execer interface {
	Querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// Tables returns the names of the tenant's tables in db, sorted, without
// the migrations' version table. dialect is goose's name of the engine:
// "sqlite3", "postgres" (the tables of the current schema, which is the
// tenant's in postgres-schema) or "mysql".
func Tables(ctx context.Context, db Querier, dialect string) ([]string, error) {
	var q string
	switch dialect {
	case "sqlite3":
		q = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`
	case "postgres":
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	case "mysql":
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'`
	default:
		return nil, fmt.Errorf("dataport: unknown dialect %q", dialect)
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if name != VersionTable {
			out = append(out, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// QuoteIdent quotes an identifier for dialect.
func QuoteIdent(dialect, name string) string {
	if dialect == "mysql" {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Dump reads every row of table, leaving out the columns in omit (the
// tenant column of shared tables): start gets the columns once, then row
// each row's portable values (the slice is reused between calls). It
// returns the number of rows.
func Dump(ctx context.Context, db Querier, dialect, table string, omit []string, start func([]Column) error, row func([]any) error) (int64, error) {
	cols, err := columns(ctx, db, dialect, table)
	if err != nil {
		return 0, err
	}
	cols = slices.DeleteFunc(cols, func(c Column) bool { return slices.Contains(omit, c.Name) })
	if err := start(cols); err != nil {
		return 0, err
	}
	if len(cols) == 0 {
		return 0, nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = QuoteIdent(dialect, c.Name)
	}
	rows, err := db.QueryContext(ctx, "SELECT "+strings.Join(names, ", ")+" FROM "+QuoteIdent(dialect, table))
	if err != nil {
		return 0, fmt.Errorf("read table %s: %w", table, err)
	}
	defer rows.Close()
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	vals := make([]any, len(cols))
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("read table %s: %w", table, err)
		}
		for i, v := range raw {
			if vals[i], err = portable(v, cols[i].Type); err != nil {
				return n, fmt.Errorf("table %s, column %s: %w", table, cols[i].Name, err)
			}
		}
		if err := row(vals); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read table %s: %w", table, err)
	}
	return n, nil
}

// columns returns table's columns in order.
func columns(ctx context.Context, db Querier, dialect, table string) ([]Column, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+QuoteIdent(dialect, table)+" WHERE 1 = 0")
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", table, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	out := make([]Column, len(types))
	for i, t := range types {
		out[i] = Column{Name: t.Name(), Type: strings.ToUpper(t.DatabaseTypeName())}
	}
	return out, rows.Err()
}

// kind is how a column's values are carried.
type kind int

const (
	kindText kind = iota
	kindInt
	kindFloat
	kindDecimal
	kindBool
	kindBinary
	kindTime
)

// kindOf classifies a declared column type.
func kindOf(typ string) kind {
	t := strings.ToUpper(typ)
	switch {
	case strings.Contains(t, "INT") || strings.Contains(t, "SERIAL"):
		return kindInt
	case strings.Contains(t, "BOOL"):
		return kindBool
	case strings.Contains(t, "NUMERIC") || strings.Contains(t, "DECIMAL"):
		return kindDecimal
	case strings.Contains(t, "REAL") || strings.Contains(t, "FLOA") || strings.Contains(t, "DOUB"):
		return kindFloat
	case strings.Contains(t, "BLOB") || strings.Contains(t, "BYTEA") || strings.Contains(t, "BINARY"):
		return kindBinary
	case strings.Contains(t, "TIMESTAMP") || strings.Contains(t, "DATE") || t == "TIME" || strings.HasPrefix(t, "TIME "):
		return kindTime
	}
	return kindText
}

// portable converts a value a driver scanned into a portable value, by
// the column's declared type (drivers hand text, and MySQL every type,
// as bytes).
func portable(v any, typ string) (any, error) {
	switch v := v.(type) {
	case nil, int64, float64, bool, string:
		return v, nil
	case time.Time:
		return v.UTC(), nil
	case []byte:
		if kindOf(typ) == kindBinary {
			return slices.Clone(v), nil
		}
		return fromText(string(v), kindOf(typ))
	case int32:
		return int64(v), nil
	case int:
		return int64(v), nil
	case uint64:
		if v > 1<<63-1 {
			return strconv.FormatUint(v, 10), nil
		}
		return int64(v), nil
	case float32:
		return float64(v), nil
	}
	return fmt.Sprint(v), nil
}

// fromText parses the text form of a value of kind k.
func fromText(s string, k kind) (any, error) {
	switch k {
	case kindInt:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	case kindFloat:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
	case kindBool:
		if b, err := strconv.ParseBool(s); err == nil {
			return b, nil
		}
	case kindTime:
		if t, err := parseTime(s); err == nil {
			return t, nil
		}
	}
	return s, nil
}

// timeLayouts are the text forms of times the engines write.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
	"15:04:05.999999999",
}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time", s)
}

// Load inserts rows into table of db: cols names the columns of each
// row, next returns the next row's values (portable values, or their
// encoded forms: strings, json.Number) and io.EOF-like done=false when
// there are no more. Each value is converted to the target column's
// type. It returns the number of rows inserted. Run it in a transaction
// to make a load all or nothing.
func Load(ctx context.Context, db Execer, dialect, table string, cols []string, next func() ([]any, bool, error)) (int64, error) {
	target, err := columns(ctx, db, dialect, table)
	if err != nil {
		return 0, err
	}
	kinds := make([]kind, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		j := slices.IndexFunc(target, func(t Column) bool { return t.Name == c })
		if j < 0 {
			return 0, &Error{Table: table, Reason: fmt.Sprintf("the table has no column %q", c)}
		}
		kinds[i] = kindOf(target[j].Type)
		names[i] = QuoteIdent(dialect, c)
	}
	if len(cols) == 0 {
		return 0, &Error{Table: table, Reason: "no columns"}
	}
	// Rows go batchSize to a statement (fewer round trips), within every
	// engine's limit on parameters.
	batchSize := max(1, min(500, 30000/len(cols)))
	prefix := "INSERT INTO " + QuoteIdent(dialect, table) + " (" + strings.Join(names, ", ") + ") VALUES "
	statement := func(rows int) string {
		var b strings.Builder
		b.WriteString(prefix)
		for r := range rows {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range cols {
				if c > 0 {
					b.WriteString(", ")
				}
				if dialect == "postgres" {
					b.WriteString("$" + strconv.Itoa(r*len(cols)+c+1))
				} else {
					b.WriteByte('?')
				}
			}
			b.WriteByte(')')
		}
		return b.String()
	}
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, batchSize*len(cols))
	var n, pending int64
	flush := func() error {
		if pending == 0 {
			return nil
		}
		var err error
		if pending == int64(batchSize) {
			if full == nil {
				if full, err = db.PrepareContext(ctx, statement(batchSize)); err != nil {
					return fmt.Errorf("table %s: %w", table, err)
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = db.ExecContext(ctx, statement(int(pending)), args...)
		}
		if err != nil {
			return fmt.Errorf("table %s, rows %d to %d: %w", table, n-pending+1, n, err)
		}
		args, pending = args[:0], 0
		return nil
	}
	for {
		row, ok, err := next()
		if err != nil {
			return n - pending, err
		}
		if !ok {
			if err := flush(); err != nil {
				return n - pending, err
			}
			return n, nil
		}
		if len(row) != len(cols) {
			return n, &Error{Table: table, Reason: fmt.Sprintf("row %d has %d values for %d columns", n+1, len(row), len(cols))}
		}
		for i, v := range row {
			a, err := convert(v, kinds[i])
			if err != nil {
				return n, &Error{Table: table, Reason: fmt.Sprintf("row %d, column %s: %v", n+1, cols[i], err)}
			}
			args = append(args, a)
		}
		n++
		pending++
		if pending == int64(batchSize) {
			if err := flush(); err != nil {
				return n - pending, err
			}
		}
	}
}

// Error is data that does not fit its target.
type Error struct{ Table, Reason string }

func (e *Error) Error() string { return "table " + e.Table + ": " + e.Reason }

// convert turns a portable or encoded value into one for a column of
// kind k.
func convert(v any, k kind) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.Number:
		switch k {
		case kindInt, kindBool:
			n, err := v.Int64()
			if err != nil {
				return nil, fmt.Errorf("%s is not an integer", v)
			}
			if k == kindBool {
				return n != 0, nil
			}
			return n, nil
		case kindFloat:
			return v.Float64()
		}
		return v.String(), nil
	case string:
		switch k {
		case kindInt:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not an integer", v)
			}
			return n, nil
		case kindFloat:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", v)
			}
			return f, nil
		case kindBool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%q is not a boolean", v)
			}
			return b, nil
		case kindTime:
			return parseTime(v)
		}
		return v, nil
	case int64:
		switch k {
		case kindBool:
			return v != 0, nil
		case kindText:
			return strconv.FormatInt(v, 10), nil
		}
		return v, nil
	case float64:
		if k == kindText {
			return strconv.FormatFloat(v, 'g', -1, 64), nil
		}
		return v, nil
	case bool:
		switch k {
		case kindInt:
			if v {
				return int64(1), nil
			}
			return int64(0), nil
		case kindText:
			return strconv.FormatBool(v), nil
		}
		return v, nil
	case time.Time:
		if k == kindText {
			return v.UTC().Format(time.RFC3339Nano), nil
		}
		return v, nil
	case []byte:
		return v, nil
	}
	return nil, fmt.Errorf("unsupported value %T", v)
}

// ResetSequences moves the sequences of table's serial and identity
// columns past the highest value loaded (PostgreSQL; the other engines
// follow explicit keys themselves).
func ResetSequences(ctx context.Context, db Execer, dialect, table string) error {
	if dialect != "postgres" {
		return nil
	}
	rows, err := db.QueryContext(ctx, `SELECT a.attname, pg_get_serial_sequence(quote_ident($1), a.attname)
		FROM pg_attribute a WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped
		AND pg_get_serial_sequence(quote_ident($1), a.attname) IS NOT NULL`, table)
	if err != nil {
		return fmt.Errorf("table %s: sequences: %w", table, err)
	}
	type seq struct{ col, name string }
	var seqs []seq
	for rows.Next() {
		var s seq
		if err := rows.Scan(&s.col, &s.name); err != nil {
			rows.Close()
			return err
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, s := range seqs {
		q := "SELECT setval($1, COALESCE(MAX(" + QuoteIdent(dialect, s.col) + "), 0) + 1, false) FROM " + QuoteIdent(dialect, table)
		if _, err := db.ExecContext(ctx, q, s.name); err != nil {
			return fmt.Errorf("table %s: reset sequence %s: %w", table, s.name, err)
		}
	}
	return nil
}

// encodeJSON is a portable value's JSON form: bytes as base64, times in
// RFC 3339.
func encodeJSON(v any) any {
	switch v := v.(type) {
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// decodeBinary undoes encodeJSON for a binary column's value.
func decodeBinary(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("a binary value is not base64")
	}
	return b, nil
}

// Copy copies every row of table from src to the table of the same name
// in dst (both of dialect), leaving out the columns in omit, streaming:
// rows are read and written at once, never all held. It returns the
// number of rows copied.
func Copy(ctx context.Context, src Querier, dst Execer, dialect, table string, omit []string) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	colsCh := make(chan []Column, 1)
	rows := make(chan []any, 256)
	var dumpErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(rows)
		_, dumpErr = Dump(ctx, src, dialect, table, omit, func(c []Column) error {
			colsCh <- c
			return nil
		}, func(v []any) error {
			select {
			case rows <- slices.Clone(v):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(colsCh)
	}()
	cols, ok := <-colsCh
	if !ok {
		<-done
		return 0, dumpErr
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	n, err := Load(ctx, dst, dialect, table, names, func() ([]any, bool, error) {
		v, ok := <-rows
		if !ok {
			<-done
			return nil, false, dumpErr
		}
		return v, true, nil
	})
	cancel()
	<-done
	return n, err
}
