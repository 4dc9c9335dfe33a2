package admit

import (
	"slices"
	"testing"
)

func TestBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		value  []byte
		fields map[string][]byte
		want   int
	}{
		{"empty", nil, nil, 0},
		{"value", []byte("abc"), nil, 3},
		{"fields count names and values", nil, map[string][]byte{"ab": []byte("cde"), "f": nil}, 6},
		{"both", []byte("x"), map[string][]byte{"k": []byte("v")}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Body(tc.value, tc.fields); got != tc.want {
				t.Fatalf("Body = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestNeed(t *testing.T) {
	for _, tc := range []struct {
		name              string
		used, grow, limit int64
		want              int64
	}{
		{"fits", 10, 5, 100, 0},
		{"fits exactly", 95, 5, 100, 0},
		{"one byte over", 96, 5, 100, 1},
		{"shrinks while over", 150, -5, 100, 0},
		{"no growth while over", 150, 0, 100, 0},
		{"already over and growing", 150, 10, 100, 60},
		{"zero budget", 0, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Need(tc.used, tc.grow, tc.limit); got != tc.want {
				t.Fatalf("Need(%d, %d, %d) = %d, want %d", tc.used, tc.grow, tc.limit, got, tc.want)
			}
		})
	}
	if got, want := Target(10, 1000), int64(60); got != want {
		t.Fatalf("Target(10, 1000) = %d, want %d", got, want)
	}
}

func TestWatermarks(t *testing.T) {
	for _, tc := range []struct {
		name            string
		used, limit     int64
		pressed, relief bool
	}{
		{"empty", 0, 1000, false, true},
		{"at low", 800, 1000, false, true},
		{"between", 850, 1000, false, false},
		{"at high", 900, 1000, false, false},
		{"above high", 901, 1000, true, false},
		{"over budget", 2000, 1000, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Pressed(tc.used, tc.limit); got != tc.pressed {
				t.Errorf("Pressed(%d, %d) = %v, want %v", tc.used, tc.limit, got, tc.pressed)
			}
			if got := Relieved(tc.used, tc.limit); got != tc.relief {
				t.Errorf("Relieved(%d, %d) = %v, want %v", tc.used, tc.limit, got, tc.relief)
			}
		})
	}
}

func TestOldest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cands []Candidate
		want  []string
	}{
		{"none", nil, nil},
		{"by access", []Candidate{{Token: "c", Access: 3}, {Token: "a", Access: 1}, {Token: "b", Access: 2}}, []string{"a", "b", "c"}},
		{"never accessed first", []Candidate{{Token: "b", Access: 5}, {Token: "a"}}, []string{"a", "b"}},
		{"extremes do not overflow", []Candidate{{Token: "b", Access: 1 << 62}, {Token: "a", Access: -1 << 62}}, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Oldest(tc.cands)
			var got []string
			for _, c := range tc.cands {
				got = append(got, c.Token)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Oldest = %v, want %v", got, tc.want)
			}
		})
	}
}
