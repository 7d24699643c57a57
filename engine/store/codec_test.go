package store

import (
	"reflect"
	"testing"
)

func TestMapCodec(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want map[string]any // nil: same as in
		json string
	}{
		{name: "nil", in: nil, json: "null"},
		{name: "empty", in: map[string]any{}, json: "{}"},
		{
			name: "scalars",
			in:   map[string]any{"s": "x", "i": 42, "f": 1.5, "w": 2.0, "b": false, "n": nil},
			json: `{"b":false,"f":1.5,"i":42,"n":null,"s":"x","w":2.0}`,
		},
		{
			name: "big and small floats",
			in:   map[string]any{"big": 1e21, "small": 1e-7, "neg": -3.0},
			json: `{"big":1e+21,"neg":-3.0,"small":1e-07}`,
		},
		{
			name: "nested",
			in:   map[string]any{"l": []any{1, 2.0, "a", []any{}}, "m": map[string]any{"k": 3.0}},
			json: `{"l":[1,2.0,"a",[]],"m":{"k":3.0}}`,
		},
		{
			name: "other integer types come back as int",
			in:   map[string]any{"i64": int64(7), "u": uint8(1)},
			want: map[string]any{"i64": 7, "u": 1},
			json: `{"i64":7,"u":1}`,
		},
		{
			name: "string lists come back as []any",
			in:   map[string]any{"files": []string{"a", "b"}},
			want: map[string]any{"files": []any{"a", "b"}},
			json: `{"files":["a","b"]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := encodeMap(tt.in)
			if err != nil {
				t.Fatalf("encodeMap(%v) = %v", tt.in, err)
			}
			if text != tt.json {
				t.Errorf("encodeMap(%v) = %s, want %s", tt.in, text, tt.json)
			}
			got, err := decodeMap(text)
			if err != nil {
				t.Fatalf("decodeMap(%s) = %v", text, err)
			}
			want := tt.want
			if want == nil {
				want = tt.in
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decodeMap(%s) = %#v, want %#v", text, got, want)
			}
		})
	}
}

func TestEncodeMapDoesNotChangeInput(t *testing.T) {
	in := map[string]any{"f": 2.0, "l": []any{3.0}}
	if _, err := encodeMap(in); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"f": 2.0, "l": []any{3.0}}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("encodeMap changed its input to %v, want %v", in, want)
	}
}
