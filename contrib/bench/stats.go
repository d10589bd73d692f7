package bench

import (
	"bufio"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Median is the median of vs (the mean of the middle two for an even
// count); NaN for none.
func Median(vs []float64) float64 { return Percentile(vs, 0.5) }

// Percentile is the q-quantile (0 <= q <= 1) of vs, interpolating linearly
// between the two closest ranks (sorted[q*(n-1)]); NaN for none.
func Percentile(vs []float64, q float64) float64 {
	if len(vs) == 0 || q < 0 || q > 1 || math.IsNaN(q) {
		return math.NaN()
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// Bucket is one cumulative histogram bucket: Count observations <= Le.
type Bucket struct {
	Le    float64
	Count float64
}

// Histogram is a Prometheus histogram: cumulative buckets sorted by Le,
// the last one +Inf, plus the sum and count of the observations.
type Histogram struct {
	Buckets []Bucket
	Sum     float64
	Count   float64
}

// Sub returns h - o, bucket by bucket: the observations made between a
// scrape o and a later scrape h of the same histogram. A zero o (the
// histogram did not exist yet) counts as empty.
func (h Histogram) Sub(o Histogram) (Histogram, error) { return h.combine(o, -1) }

// Add returns h + o, bucket by bucket. A zero value counts as empty.
func (h Histogram) Add(o Histogram) (Histogram, error) { return h.combine(o, 1) }

func (h Histogram) combine(o Histogram, sign float64) (Histogram, error) {
	if len(o.Buckets) == 0 {
		return h.clone(), nil
	}
	if len(h.Buckets) == 0 {
		h.Buckets = make([]Bucket, len(o.Buckets))
		for i, b := range o.Buckets {
			h.Buckets[i].Le = b.Le
		}
	}
	if len(o.Buckets) != len(h.Buckets) {
		return Histogram{}, fmt.Errorf("histogram buckets differ: %d and %d", len(h.Buckets), len(o.Buckets))
	}
	r := Histogram{Sum: h.Sum + sign*o.Sum, Count: h.Count + sign*o.Count, Buckets: make([]Bucket, len(h.Buckets))}
	for i, b := range h.Buckets {
		if o.Buckets[i].Le != b.Le {
			return Histogram{}, fmt.Errorf("histogram bucket %d differs: le=%g and le=%g", i, b.Le, o.Buckets[i].Le)
		}
		r.Buckets[i] = Bucket{Le: b.Le, Count: b.Count + sign*o.Buckets[i].Count}
	}
	return r, nil
}

func (h Histogram) clone() Histogram {
	h.Buckets = append([]Bucket(nil), h.Buckets...)
	return h
}

// Quantile estimates the q-quantile of the observations from the buckets
// the way Prometheus's histogram_quantile does: find the bucket holding
// rank q*count and interpolate linearly inside it (from 0 for the first
// bucket); a rank in the +Inf bucket gives the highest finite bound. NaN
// when there are no observations.
func (h Histogram) Quantile(q float64) float64 {
	n := len(h.Buckets)
	if n < 2 || !math.IsInf(h.Buckets[n-1].Le, 1) || q < 0 || q > 1 {
		return math.NaN()
	}
	total := h.Buckets[n-1].Count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	b := sort.Search(n-1, func(i int) bool { return h.Buckets[i].Count >= rank })
	if b == n-1 {
		return h.Buckets[n-2].Le
	}
	if b == 0 && h.Buckets[0].Le <= 0 {
		return h.Buckets[0].Le
	}
	start, end, below := 0.0, h.Buckets[b].Le, 0.0
	if b > 0 {
		start, below = h.Buckets[b-1].Le, h.Buckets[b-1].Count
	}
	inBucket := h.Buckets[b].Count - below
	if inBucket <= 0 {
		return end
	}
	return start + (end-start)*(rank-below)/inBucket
}

// Mean is Sum/Count (exact, not estimated from buckets); NaN when empty.
func (h Histogram) Mean() float64 {
	if h.Count <= 0 {
		return math.NaN()
	}
	return h.Sum / h.Count
}

// ParseHistograms reads the histogram family metric from Prometheus text
// exposition format and returns its histograms keyed by the value of the
// label key (for example "method"). Other families are ignored.
func ParseHistograms(text, metric, key string) (map[string]Histogram, error) {
	hs := map[string]Histogram{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || !strings.HasPrefix(l, metric+"_") {
			continue
		}
		name, labels, value, err := parseSample(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		suffix := strings.TrimPrefix(name, metric)
		if suffix != "_bucket" && suffix != "_sum" && suffix != "_count" {
			continue
		}
		k := labels[key]
		h := hs[k]
		switch suffix {
		case "_bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: le %q: %v", line, labels["le"], err)
			}
			h.Buckets = append(h.Buckets, Bucket{Le: le, Count: value})
		case "_sum":
			h.Sum = value
		case "_count":
			h.Count = value
		}
		hs[k] = h
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for k, h := range hs {
		sort.Slice(h.Buckets, func(i, j int) bool { return h.Buckets[i].Le < h.Buckets[j].Le })
		if n := len(h.Buckets); n == 0 || !math.IsInf(h.Buckets[n-1].Le, 1) {
			return nil, fmt.Errorf("%s{%s=%q}: no +Inf bucket", metric, key, k)
		}
	}
	return hs, nil
}

// parseSample splits `name{a="x",b="y"} value [timestamp]`.
func parseSample(l string) (name string, labels map[string]string, value float64, err error) {
	labels = map[string]string{}
	rest := l
	if i := strings.IndexAny(l, "{ "); i < 0 {
		return "", nil, 0, fmt.Errorf("no value in %q", l)
	} else {
		name, rest = l[:i], l[i:]
	}
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return "", nil, 0, fmt.Errorf("bad labels in %q", l)
			}
			lname := strings.TrimSpace(rest[:eq])
			rest = rest[eq+2:]
			var v strings.Builder
			closed := false
			for i := 0; i < len(rest); i++ {
				c := rest[i]
				if c == '\\' && i+1 < len(rest) {
					i++
					switch rest[i] {
					case 'n':
						v.WriteByte('\n')
					default:
						v.WriteByte(rest[i])
					}
					continue
				}
				if c == '"' {
					rest = rest[i+1:]
					closed = true
					break
				}
				v.WriteByte(c)
			}
			if !closed {
				return "", nil, 0, fmt.Errorf("unterminated label value in %q", l)
			}
			labels[lname] = v.String()
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return "", nil, 0, fmt.Errorf("no value in %q", l)
	}
	value, err = strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", nil, 0, fmt.Errorf("value in %q: %v", l, err)
	}
	return name, labels, value, nil
}
