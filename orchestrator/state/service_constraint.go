package state

import (
	"fmt"
	"strings"
)

// NodeOS is what node.platform.os is on every node: agents run on Linux.
const NodeOS = "linux"

// Node attributes that constraints and placement preferences name.
const (
	AttrNodeID     = "node.id"
	AttrHostname   = "node.hostname"
	AttrRole       = "node.role"
	AttrPlatformOS = "node.platform.os"
	AttrLabelsPfx  = "node.labels."
)

const attrKeys = "node.id, node.hostname, node.role, node.platform.os or node.labels.KEY"

// Constraint is one placement rule: a node attribute equal (or not) to a
// value. Values compare case-insensitively, as in Swarm.
type Constraint struct {
	Key   string
	Equal bool // == when true, != when false
	Value string
}

// ParseConstraint reads `node.labels.ssd==true` or `node.role != manager`.
func ParseConstraint(s string) (Constraint, error) {
	op, equal := "==", true
	i := strings.Index(s, op)
	if i < 0 {
		op, equal = "!=", false
		i = strings.Index(s, op)
	}
	if i < 0 {
		return Constraint{}, fmt.Errorf("--constraint %q: want KEY==VALUE or KEY!=VALUE", s)
	}
	c := Constraint{Key: strings.TrimSpace(s[:i]), Equal: equal, Value: strings.TrimSpace(s[i+len(op):])}
	if err := checkAttr(c.Key); err != nil {
		return Constraint{}, fmt.Errorf("--constraint %q: %w", s, err)
	}
	if c.Value == "" || strings.ContainsAny(c.Value, "=!") {
		return Constraint{}, fmt.Errorf("--constraint %q: want one value after %s, like node.labels.ssd==true", s, op)
	}
	if c.Key == AttrRole && !strings.EqualFold(c.Value, RoleManager) && !strings.EqualFold(c.Value, RoleWorker) {
		return Constraint{}, fmt.Errorf("--constraint %q: node.role is manager or worker", s)
	}
	return c, nil
}

// String writes the constraint canonically: node.labels.ssd==true.
func (c Constraint) String() string {
	op := "!="
	if c.Equal {
		op = "=="
	}
	return c.Key + op + c.Value
}

// Matches says whether node n satisfies the constraint. A missing label
// equals nothing, so `!=` matches it.
func (c Constraint) Matches(n *Node) bool {
	v, ok := NodeAttr(n, c.Key)
	return (ok && strings.EqualFold(v, c.Value)) == c.Equal
}

// MatchesAll says whether n satisfies every constraint. Constraints that
// do not parse (never stored: the FSM validates specs) match no node.
func MatchesAll(n *Node, constraints []string) bool {
	for _, s := range constraints {
		c, err := ParseConstraint(s)
		if err != nil || !c.Matches(n) {
			return false
		}
	}
	return true
}

// NodeAttr returns a node's attribute by its constraint key; false for a
// label the node does not have.
func NodeAttr(n *Node, key string) (string, bool) {
	switch key {
	case AttrNodeID:
		return n.ID, true
	case AttrHostname:
		return n.Hostname, true
	case AttrRole:
		return n.Role, true
	case AttrPlatformOS:
		return NodeOS, true
	}
	if l, ok := strings.CutPrefix(key, AttrLabelsPfx); ok {
		v, ok := n.Labels[l]
		return v, ok
	}
	return "", false
}

func checkAttr(key string) error {
	switch key {
	case AttrNodeID, AttrHostname, AttrRole, AttrPlatformOS:
		return nil
	}
	if l, ok := strings.CutPrefix(key, AttrLabelsPfx); ok && l != "" && !strings.ContainsAny(l, " \t") {
		return nil
	}
	if key == "" {
		return fmt.Errorf("want KEY==VALUE or KEY!=VALUE with KEY one of %s", attrKeys)
	}
	return fmt.Errorf("unknown key %s; want %s", key, attrKeys)
}

// Preference is a placement preference: spread the tasks evenly over the
// values of a node attribute (nodes without it form one group).
type Preference struct {
	Spread string // a constraint key, usually node.labels.KEY
}

// ParsePreference reads `spread=node.labels.zone`.
func ParsePreference(s string) (Preference, error) {
	kind, key, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(kind) != "spread" {
		return Preference{}, fmt.Errorf("--placement-pref %q: want spread=node.labels.KEY", s)
	}
	key = strings.TrimSpace(key)
	if err := checkAttr(key); err != nil {
		return Preference{}, fmt.Errorf("--placement-pref %q: %w", s, err)
	}
	return Preference{Spread: key}, nil
}

// String writes the preference as the flag takes it.
func (p Preference) String() string { return "spread=" + p.Spread }
