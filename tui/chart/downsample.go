package chart

import "math"

// Bucket summarises the points that fall into one column of a chart.
// First and Last are the Y of the first and last point in input order, used
// to join neighbouring columns; Min and Max keep spikes visible; Mean is
// the column average.
type Bucket struct {
	N                           int
	Min, Max, Mean, First, Last float64
}

// add puts a finite y into the bucket (Mean holds the running sum until
// finishBuckets).
func (b *Bucket) add(y float64) {
	if b.N == 0 {
		b.Min, b.Max, b.First = y, y, y
	}
	if y < b.Min {
		b.Min = y
	}
	if y > b.Max {
		b.Max = y
	}
	b.Last = y
	b.Mean += y
	b.N++
}

// bucketIndex returns the column of x for n columns over [x0, x1], or -1
// when x is outside or not finite.
func bucketIndex(x, x0, x1 float64, n int) int {
	if math.IsNaN(x) || x < x0 || x > x1 || n <= 0 {
		return -1
	}
	if x1 == x0 {
		return n / 2
	}
	i := int((x - x0) / (x1 - x0) * float64(n))
	return min(i, n-1)
}

// Downsample buckets points by X into n equal-width columns over [x0, x1]
// and returns per-column count, min, max, mean, first and last Y. Points
// with a non-finite Y or an X outside the range are skipped. It is O(len)
// and is how a chart shows millions of points in a pane: drawing each
// column from Min to Max keeps every spike visible.
func Downsample(points []Point, x0, x1 float64, n int) []Bucket {
	if n <= 0 {
		return nil
	}
	out := make([]Bucket, n)
	for _, p := range points {
		if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
			continue
		}
		if i := bucketIndex(p.X, x0, x1, n); i >= 0 {
			out[i].add(p.Y)
		}
	}
	finishBuckets(out)
	return out
}

// finishBuckets turns running sums into means.
func finishBuckets(bs []Bucket) {
	for i := range bs {
		if bs[i].N > 0 {
			bs[i].Mean /= float64(bs[i].N)
		}
	}
}
