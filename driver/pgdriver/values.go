package pgdriver

import (
	"database/sql/driver"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// The database/sql representation of PostgreSQL values, as pgx's
// database/sql adapter (pgx/v5/stdlib) makes it, so that a shared-pool
// handle returns the same Go values as a handle of a private pool.

// sqlResultFormats are the result formats by type: binary for the
// intrinsic types, text for the rest.
var sqlResultFormats = map[uint32]int16{
	pgtype.BoolOID:        pgtype.BinaryFormatCode,
	pgtype.ByteaOID:       pgtype.BinaryFormatCode,
	pgtype.CIDOID:         pgtype.BinaryFormatCode,
	pgtype.DateOID:        pgtype.BinaryFormatCode,
	pgtype.Float4OID:      pgtype.BinaryFormatCode,
	pgtype.Float8OID:      pgtype.BinaryFormatCode,
	pgtype.Int2OID:        pgtype.BinaryFormatCode,
	pgtype.Int4OID:        pgtype.BinaryFormatCode,
	pgtype.Int8OID:        pgtype.BinaryFormatCode,
	pgtype.OIDOID:         pgtype.BinaryFormatCode,
	pgtype.TimestampOID:   pgtype.BinaryFormatCode,
	pgtype.TimestamptzOID: pgtype.BinaryFormatCode,
	pgtype.XIDOID:         pgtype.BinaryFormatCode,
}

// valueFunc converts one column's wire value to a driver.Value.
type valueFunc func(src []byte) (driver.Value, error)

// scanInto plans the scan of a column into a T and converts the T.
func scanInto[T any](m *pgtype.Map, fd pgconn.FieldDescription, conv func(T) (driver.Value, error)) valueFunc {
	var d T
	plan := m.PlanScan(fd.DataTypeOID, fd.Format, &d)
	return func(src []byte) (driver.Value, error) {
		if err := plan.Scan(src, &d); err != nil {
			return nil, err
		}
		return conv(d)
	}
}

func same[T any](v T) (driver.Value, error)             { return v, nil }
func valuer[T driver.Valuer](v T) (driver.Value, error) { return v.Value() }

// valueFuncs returns the conversion of each field.
func valueFuncs(m *pgtype.Map, fields []pgconn.FieldDescription) []valueFunc {
	out := make([]valueFunc, len(fields))
	for i, fd := range fields {
		switch fd.DataTypeOID {
		case pgtype.BoolOID:
			out[i] = scanInto(m, fd, same[bool])
		case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID, pgtype.XMLOID:
			out[i] = scanInto(m, fd, same[[]byte])
		case pgtype.CIDOID, pgtype.OIDOID, pgtype.XIDOID:
			out[i] = scanInto(m, fd, valuer[pgtype.Uint32])
		case pgtype.DateOID:
			out[i] = scanInto(m, fd, valuer[pgtype.Date])
		case pgtype.Float4OID:
			out[i] = scanInto(m, fd, func(v float32) (driver.Value, error) { return float64(v), nil })
		case pgtype.Float8OID:
			out[i] = scanInto(m, fd, same[float64])
		case pgtype.Int2OID:
			out[i] = scanInto(m, fd, func(v int16) (driver.Value, error) { return int64(v), nil })
		case pgtype.Int4OID:
			out[i] = scanInto(m, fd, func(v int32) (driver.Value, error) { return int64(v), nil })
		case pgtype.Int8OID:
			out[i] = scanInto(m, fd, same[int64])
		case pgtype.TimestampOID:
			out[i] = scanInto(m, fd, valuer[pgtype.Timestamp])
		case pgtype.TimestamptzOID:
			out[i] = scanInto(m, fd, valuer[pgtype.Timestamptz])
		default:
			out[i] = scanInto(m, fd, same[string])
		}
	}
	return out
}

// varHeaderSize is the length header counted in a varlena type modifier.
const varHeaderSize = 4

// ColumnTypeDatabaseTypeName implements driver.RowsColumnTypeDatabaseTypeName.
func (r *boundRows) ColumnTypeDatabaseTypeName(i int) string {
	if dt, ok := r.conn.conn.TypeMap().TypeForOID(r.fields[i].DataTypeOID); ok {
		return strings.ToUpper(dt.Name)
	}
	return strconv.FormatInt(int64(r.fields[i].DataTypeOID), 10)
}

// ColumnTypeLength implements driver.RowsColumnTypeLength.
func (r *boundRows) ColumnTypeLength(i int) (int64, bool) {
	fd := r.fields[i]
	switch fd.DataTypeOID {
	case pgtype.TextOID, pgtype.ByteaOID:
		return math.MaxInt64, true
	case pgtype.VarcharOID, pgtype.BPCharOID:
		return int64(fd.TypeModifier - varHeaderSize), true
	case pgtype.VarbitOID:
		return int64(fd.TypeModifier), true
	}
	return 0, false
}

// ColumnTypePrecisionScale implements driver.RowsColumnTypePrecisionScale.
func (r *boundRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	fd := r.fields[i]
	if fd.DataTypeOID != pgtype.NumericOID {
		return 0, 0, false
	}
	mod := fd.TypeModifier - varHeaderSize
	return int64((mod >> 16) & 0xffff), int64(mod & 0xffff), true
}

// ColumnTypeScanType implements driver.RowsColumnTypeScanType.
func (r *boundRows) ColumnTypeScanType(i int) reflect.Type {
	switch r.fields[i].DataTypeOID {
	case pgtype.Float8OID, pgtype.NumericOID:
		return reflect.TypeFor[float64]()
	case pgtype.Float4OID:
		return reflect.TypeFor[float32]()
	case pgtype.Int8OID:
		return reflect.TypeFor[int64]()
	case pgtype.Int4OID:
		return reflect.TypeFor[int32]()
	case pgtype.Int2OID:
		return reflect.TypeFor[int16]()
	case pgtype.BoolOID:
		return reflect.TypeFor[bool]()
	case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		return reflect.TypeFor[time.Time]()
	case pgtype.ByteaOID:
		return reflect.TypeFor[[]byte]()
	}
	return reflect.TypeFor[string]()
}
