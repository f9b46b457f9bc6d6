package dataport

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// tableWriter writes one table's rows in a format.
type tableWriter interface {
	start(cols []Column) error
	row(vals []any) error
	end() error
}

// tableReader reads one table's rows back: next returns false after the
// last.
type tableReader interface {
	next() ([]any, bool, error)
}

func newTableWriter(format, table string, w io.Writer) (tableWriter, error) {
	switch format {
	case FormatJSON:
		return &jsonWriter{table: table, w: bufio.NewWriter(w)}, nil
	case FormatCSV:
		return &csvWriter{w: csv.NewWriter(w)}, nil
	case FormatSQL:
		return &sqlWriter{table: table, w: bufio.NewWriter(w)}, nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

func newTableReader(format string, t TableInfo, r io.Reader) (tableReader, error) {
	binary := make([]bool, len(t.Columns))
	for i, c := range t.Columns {
		binary[i] = kindOf(c.Type) == kindBinary
	}
	switch format {
	case FormatJSON:
		return newJSONReader(t, r, binary)
	case FormatCSV:
		return newCSVReader(t, r, binary)
	case FormatSQL:
		return &sqlReader{t: t, s: newScanner(r)}, nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

// jsonWriter writes {"table": …, "columns": […], "rows": [[…], …]}.
type jsonWriter struct {
	table string
	w     *bufio.Writer
	n     int
	buf   []any
}

func (j *jsonWriter) start(cols []Column) error {
	head, err := json.Marshal(map[string]any{"table": j.table, "columns": cols})
	if err != nil {
		return err
	}
	j.w.Write(head[:len(head)-1])
	_, err = j.w.WriteString(`,"rows":[`)
	return err
}

func (j *jsonWriter) row(vals []any) error {
	if j.n > 0 {
		j.w.WriteByte(',')
	}
	j.w.WriteByte('\n')
	j.n++
	j.buf = j.buf[:0]
	for _, v := range vals {
		j.buf = append(j.buf, encodeJSON(v))
	}
	b, err := json.Marshal(j.buf)
	if err != nil {
		return err
	}
	_, err = j.w.Write(b)
	return err
}

func (j *jsonWriter) end() error {
	j.w.WriteString("\n]}\n")
	return j.w.Flush()
}

// jsonReader streams the rows of a jsonWriter's document.
type jsonReader struct {
	dec    *json.Decoder
	binary []bool
	done   bool
}

func newJSONReader(t TableInfo, r io.Reader, binary []bool) (*jsonReader, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	bad := func(why string) error { return fmt.Errorf("%w: table %s: %s", ErrNotExport, t.Name, why) }
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad("not a JSON object")
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad(err.Error())
		}
		key, ok := tok.(string)
		if !ok {
			return nil, bad("no rows")
		}
		switch key {
		case "rows":
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return nil, bad("rows is not an array")
			}
			return &jsonReader{dec: dec, binary: binary}, nil
		case "table":
			var name string
			if err := dec.Decode(&name); err != nil || name != t.Name {
				return nil, bad("the document is of another table")
			}
		case "columns":
			var cols []Column
			if err := dec.Decode(&cols); err != nil || !slices.Equal(cols, t.Columns) {
				return nil, bad("its columns differ from the manifest's")
			}
		default:
			return nil, bad("unknown key " + strconv.Quote(key))
		}
	}
}

func (j *jsonReader) next() ([]any, bool, error) {
	if j.done || !j.dec.More() {
		j.done = true
		return nil, false, nil
	}
	var row []any
	if err := j.dec.Decode(&row); err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrNotExport, err)
	}
	if len(row) != len(j.binary) {
		return nil, false, fmt.Errorf("%w: a row has %d values for %d columns", ErrNotExport, len(row), len(j.binary))
	}
	for i, v := range row {
		switch v.(type) {
		case nil, string, json.Number, bool:
		default:
			return nil, false, fmt.Errorf("%w: a value is neither null, a string, a number nor a boolean", ErrNotExport)
		}
		if j.binary[i] {
			var err error
			if row[i], err = decodeBinary(v); err != nil {
				return nil, false, fmt.Errorf("%w: %v", ErrNotExport, err)
			}
		}
	}
	return row, true, nil
}

// csvNull is NULL in csv; a text beginning with a backslash gets one
// more.
const csvNull = `\N`

// csvWriter writes a header of column names and a record per row.
type csvWriter struct {
	w   *csv.Writer
	rec []string
}

func (c *csvWriter) start(cols []Column) error {
	names := make([]string, len(cols))
	for i, col := range cols {
		names[i] = col.Name
	}
	return c.w.Write(names)
}

func (c *csvWriter) row(vals []any) error {
	c.rec = c.rec[:0]
	for _, v := range vals {
		c.rec = append(c.rec, csvText(v))
	}
	return c.w.Write(c.rec)
}

func (c *csvWriter) end() error {
	c.w.Flush()
	return c.w.Error()
}

func csvText(v any) string {
	switch v := v.(type) {
	case nil:
		return csvNull
	case string:
		if strings.HasPrefix(v, `\`) {
			return `\` + v
		}
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

type csvReader struct {
	r      *csv.Reader
	binary []bool
}

func newCSVReader(t TableInfo, r io.Reader, binary []bool) (*csvReader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(t.Columns)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: table %s: %v", ErrNotExport, t.Name, err)
	}
	for i, c := range t.Columns {
		if head[i] != c.Name {
			return nil, fmt.Errorf("%w: table %s: its header differs from the manifest's columns", ErrNotExport, t.Name)
		}
	}
	return &csvReader{r: cr, binary: binary}, nil
}

func (c *csvReader) next() ([]any, bool, error) {
	rec, err := c.r.Read()
	if err == io.EOF {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrNotExport, err)
	}
	row := make([]any, len(rec))
	for i, s := range rec {
		switch {
		case s == csvNull:
			row[i] = nil
		case strings.HasPrefix(s, `\\`):
			row[i] = s[1:]
		case c.binary[i]:
			if row[i], err = decodeBinary(s); err != nil {
				return nil, false, fmt.Errorf("%w: %v", ErrNotExport, err)
			}
		default:
			row[i] = s
		}
	}
	return row, true, nil
}

// sqlWriter writes INSERT INTO "table" ("a", "b") VALUES (…); per row,
// with standard SQL literals (X'…' for bytes).
type sqlWriter struct {
	table  string
	w      *bufio.Writer
	prefix string
}

func (s *sqlWriter) start(cols []Column) error {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = QuoteIdent("", c.Name)
	}
	s.prefix = "INSERT INTO " + QuoteIdent("", s.table) + " (" + strings.Join(names, ", ") + ") VALUES ("
	_, err := fmt.Fprintf(s.w, "-- tenancy export of table %s\n", strings.ReplaceAll(s.table, "\n", " "))
	return err
}

func (s *sqlWriter) row(vals []any) error {
	s.w.WriteString(s.prefix)
	for i, v := range vals {
		if i > 0 {
			s.w.WriteString(", ")
		}
		s.w.WriteString(sqlLiteral(v))
	}
	_, err := s.w.WriteString(");\n")
	return err
}

func (s *sqlWriter) end() error { return s.w.Flush() }

func sqlLiteral(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case bool:
		if v {
			return "TRUE"
		}
		return "FALSE"
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []byte:
		return "X'" + hex.EncodeToString(v) + "'"
	case time.Time:
		return "'" + v.UTC().Format(time.RFC3339Nano) + "'"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
}

// sqlReader parses the statements of a sqlWriter (and nothing else).
type sqlReader struct {
	t TableInfo
	s *scanner
}

func (r *sqlReader) next() ([]any, bool, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: table %s, line %d: %s", ErrNotExport, r.t.Name, r.s.line, why)
	}
	tok, err := r.s.token()
	if err == io.EOF {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, bad(err.Error())
	}
	for _, want := range []string{"INSERT", "INTO"} {
		if !strings.EqualFold(tok.text, want) || tok.kind != tokWord {
			return nil, false, bad("expected " + want)
		}
		if tok, err = r.s.token(); err != nil {
			return nil, false, bad(err.Error())
		}
	}
	if tok.kind != tokIdent || tok.text != r.t.Name {
		return nil, false, bad("an INSERT into another table")
	}
	if err := r.s.expect("("); err != nil {
		return nil, false, bad(err.Error())
	}
	for i, c := range r.t.Columns {
		if i > 0 {
			if err := r.s.expect(","); err != nil {
				return nil, false, bad(err.Error())
			}
		}
		tok, err := r.s.token()
		if err != nil || tok.kind != tokIdent || tok.text != c.Name {
			return nil, false, bad("the columns differ from the manifest's")
		}
	}
	if err := r.s.expect(")"); err != nil {
		return nil, false, bad(err.Error())
	}
	if tok, err := r.s.token(); err != nil || tok.kind != tokWord || !strings.EqualFold(tok.text, "VALUES") {
		return nil, false, bad("expected VALUES")
	}
	if err := r.s.expect("("); err != nil {
		return nil, false, bad(err.Error())
	}
	row := make([]any, len(r.t.Columns))
	for i := range row {
		if i > 0 {
			if err := r.s.expect(","); err != nil {
				return nil, false, bad(err.Error())
			}
		}
		tok, err := r.s.token()
		if err != nil {
			return nil, false, bad(err.Error())
		}
		switch {
		case tok.kind == tokString:
			row[i] = tok.text
		case tok.kind == tokBytes:
			b, err := hex.DecodeString(tok.text)
			if err != nil {
				return nil, false, bad("bad X'…' literal")
			}
			row[i] = b
		case tok.kind == tokNumber:
			row[i] = json.Number(tok.text)
		case tok.kind == tokWord && strings.EqualFold(tok.text, "NULL"):
			row[i] = nil
		case tok.kind == tokWord && strings.EqualFold(tok.text, "TRUE"):
			row[i] = true
		case tok.kind == tokWord && strings.EqualFold(tok.text, "FALSE"):
			row[i] = false
		default:
			return nil, false, bad("not a literal: " + tok.text)
		}
	}
	if err := r.s.expect(")"); err != nil {
		return nil, false, bad(err.Error())
	}
	if err := r.s.expect(";"); err != nil {
		return nil, false, bad(err.Error())
	}
	return row, true, nil
}

type tokKind int

const (
	tokWord tokKind = iota
	tokIdent
	tokString
	tokBytes
	tokNumber
	tokPunct
)

type token struct {
	kind tokKind
	text string
}

// scanner tokenizes the SQL a sqlWriter writes: words, "identifiers",
// 'strings', X'hex', numbers, punctuation, and -- comments.
type scanner struct {
	r    *bufio.Reader
	line int
}

func newScanner(r io.Reader) *scanner { return &scanner{r: bufio.NewReader(r), line: 1} }

func (s *scanner) read() (rune, error) {
	c, _, err := s.r.ReadRune()
	if c == '\n' {
		s.line++
	}
	return c, err
}

func (s *scanner) unread(c rune) {
	_ = s.r.UnreadRune()
	if c == '\n' {
		s.line--
	}
}

// quoted reads up to the closing q, with qq as an escaped q.
func (s *scanner) quoted(q rune) (string, error) {
	var b strings.Builder
	for {
		c, err := s.read()
		if err != nil {
			return "", fmt.Errorf("unterminated %c", q)
		}
		if c == q {
			n, err := s.read()
			if err == nil && n == q {
				b.WriteRune(q)
				continue
			}
			if err == nil {
				s.unread(n)
			}
			return b.String(), nil
		}
		b.WriteRune(c)
	}
}

func (s *scanner) token() (token, error) {
	for {
		c, err := s.read()
		if err != nil {
			return token{}, err
		}
		switch {
		case unicode.IsSpace(c):
			continue
		case c == '-':
			n, err := s.read()
			if err == nil && n == '-' {
				if _, err := s.r.ReadString('\n'); err != nil && err != io.EOF {
					return token{}, err
				}
				s.line++
				continue
			}
			if err == nil {
				s.unread(n)
			}
			return s.number("-")
		case c == '"':
			text, err := s.quoted('"')
			return token{tokIdent, text}, err
		case c == '\'':
			text, err := s.quoted('\'')
			return token{tokString, text}, err
		case (c == 'X' || c == 'x'):
			n, err := s.read()
			if err == nil && n == '\'' {
				text, err := s.quoted('\'')
				return token{tokBytes, text}, err
			}
			if err == nil {
				s.unread(n)
			}
			return s.word(c)
		case c >= '0' && c <= '9':
			return s.number(string(c))
		case unicode.IsLetter(c):
			return s.word(c)
		case strings.ContainsRune("(),;", c):
			return token{tokPunct, string(c)}, nil
		default:
			return token{}, fmt.Errorf("unexpected %q", c)
		}
	}
}

func (s *scanner) word(first rune) (token, error) {
	b := []rune{first}
	for {
		c, err := s.read()
		if err != nil {
			break
		}
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && c != '_' {
			s.unread(c)
			break
		}
		b = append(b, c)
	}
	return token{tokWord, string(b)}, nil
}

func (s *scanner) number(prefix string) (token, error) {
	b := []byte(prefix)
	for {
		c, err := s.read()
		if err != nil {
			break
		}
		if !(c >= '0' && c <= '9') && !strings.ContainsRune(".eE+-", c) {
			s.unread(c)
			break
		}
		b = append(b, byte(c))
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return token{}, fmt.Errorf("bad number %q", b)
	}
	return token{tokNumber, string(b)}, nil
}

func (s *scanner) expect(p string) error {
	tok, err := s.token()
	if err != nil {
		return err
	}
	if tok.kind != tokPunct || tok.text != p {
		return fmt.Errorf("expected %q, found %q", p, tok.text)
	}
	return nil
}
