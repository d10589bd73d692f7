package apiserver

import "strings"

// lookup finds one object the way Docker does: exact ID, exact name, then
// a unique ID prefix. Networks and nodes share it.
type lookup[T any] struct {
	noun     string // "network", "node"
	byID     func(string) *T
	all      []*T
	name, id func(*T) string
	describe func([]*T) string // names candidates in an ambiguity error
}

func (l lookup[T]) resolve(ref string) (*T, error) {
	if ref == "" {
		return nil, invalid("empty %s name or ID", l.noun)
	}
	if v := l.byID(ref); v != nil {
		return v, nil
	}
	var named, prefixed []*T
	for _, v := range l.all {
		if l.name(v) == ref {
			named = append(named, v)
		}
		if strings.HasPrefix(l.id(v), ref) {
			prefixed = append(prefixed, v)
		}
	}
	switch {
	case len(named) == 1:
		return named[0], nil
	case len(named) > 1:
		return nil, invalid("%s name %q is ambiguous: it names %s; use an ID", l.noun, ref, l.describe(named))
	case len(prefixed) == 1:
		return prefixed[0], nil
	case len(prefixed) > 1:
		return nil, invalid("%s ID prefix %q is ambiguous: it matches %s; use a longer prefix", l.noun, ref, l.describe(prefixed))
	}
	return nil, notFound("%s %q not found", l.noun, ref)
}
