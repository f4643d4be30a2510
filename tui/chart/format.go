package chart

import (
	"math"
	"strconv"
	"strings"
)

// siPrefixes are the engineering prefixes used by FormatSI, by exponent/3+5.
var siPrefixes = [...]string{"f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P"}

// FormatSI formats v in engineering notation with an SI prefix and three
// significant digits, trailing zeros trimmed: 1234 -> "1.23k",
// 0.5 -> "500m", 2e-6 -> "2µ", 0 -> "0". Axis labels stay short (at most 6
// cells for |v| in [1e-15, 1e18)); values outside that range use e-notation.
func FormatSI(v float64) string { return formatSI(v, 3) }

func formatSI(v float64, sig int) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == 0:
		return "0"
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	if v < 1e-15 || v >= 1e18 {
		return sign + strconv.FormatFloat(v, 'g', sig, 64)
	}
	e := int(math.Floor(math.Log10(v)))
	eng := floorDiv(e, 3) * 3
	eng = min(max(eng, -15), 15)
	m := v / math.Pow(10, float64(eng))
	dec := max(sig-1-(e-eng), 0)
	s := strconv.FormatFloat(m, 'f', dec, 64)
	// Rounding may carry to 1000 (999.7 -> "1000"): move to the next prefix.
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 1000 && eng < 15 {
		eng += 3
		s = strconv.FormatFloat(m/1000, 'f', max(sig-1, 0), 64)
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return sign + s + siPrefixes[eng/3+5]
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// tickLabels formats tick values with FormatSI, adding significant digits
// until neighbouring labels differ (ticks 10000, 10005 need five digits).
func tickLabels(vals []float64) []string {
	var out []string
	for sig := 3; sig <= 9; sig++ {
		out = out[:0]
		distinct := true
		for i, v := range vals {
			out = append(out, formatSI(v, sig))
			if i > 0 && out[i] == out[i-1] {
				distinct = false
			}
		}
		if distinct {
			break
		}
	}
	return out
}
