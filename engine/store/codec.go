package store

import (
	"database/sql"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Times are stored as unix nanoseconds so that they sort in SQL; the zero
// time, which has no unix nanosecond value, is stored as NULL.

// toNanos converts t for storage.
func toNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromNanos converts a stored time back; it is in the local time zone.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64)
}

// encodeMap stores a map of typed values as JSON. Plain JSON would bring a
// float64 2.0 back as the int 2, so floats with integral values are written
// with a ".0" that decodeMap recognises.
func encodeMap(m map[string]any) (string, error) {
	b, err := json.Marshal(markFloats(m))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeMap reads a map written by encodeMap. Numbers written without a
// fraction or exponent come back as int, others as float64; lists come back
// as []any and objects as map[string]any.
func decodeMap(s string) (map[string]any, error) {
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	for k, v := range m {
		m[k] = unmarkNumbers(v)
	}
	return m, nil
}

// encodeList and decodeList store a list of strings as JSON.
func encodeList(l []string) (string, error) {
	b, err := json.Marshal(l)
	return string(b), err
}

func decodeList(s string) ([]string, error) {
	var l []string
	err := json.Unmarshal([]byte(s), &l)
	return l, err
}

// markFloats returns a copy of v in which integral floats are json.Numbers
// carrying a fraction. It never changes v.
func markFloats(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = markFloats(e)
		}
		return out
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = markFloats(e)
		}
		return out
	case float64:
		return floatNumber(v)
	case float32:
		return floatNumber(float64(v))
	}
	return v
}

// floatNumber writes f so that it reads back as a float. NaN and infinities
// are left for encoding/json to reject.
func floatNumber(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return json.Number(s)
}

// unmarkNumbers turns the json.Numbers in a decoded value into int or float64.
func unmarkNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = unmarkNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = unmarkNumbers(e)
		}
	case json.Number:
		s := v.String()
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, strconv.IntSize); err == nil {
				return int(i)
			}
		}
		f, _ := v.Float64()
		return f
	}
	return v
}
