package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// apply runs a command through the FSM's byte path, as raft would.
func apply(t *testing.T, f *FSM, c Command) (any, error) {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	res := f.Apply(&raft.Log{Type: raft.LogCommand, Data: b}).(Result)
	return res.Value, res.Err
}

func mustApply(t *testing.T, f *FSM, c Command) any {
	t.Helper()
	v, err := apply(t, f, c)
	if err != nil {
		t.Fatalf("%T: %v", c, err)
	}
	return v
}

// newNet creates an attached network "net" on node n1 with gateway.
func newNet(t *testing.T, subnet, rng string) (*Store, *FSM) {
	t.Helper()
	s := NewStore()
	f := NewFSM(s)
	mustApply(t, f, RegisterNode{Node: Node{ID: "n1", Hostname: "h1", Role: "manager"}})
	mustApply(t, f, CreateNetwork{ID: "net", Subnet: subnet, IPRange: rng, CreatedAt: t0})
	mustApply(t, f, SetGateway{NetworkID: "net"})
	mustApply(t, f, AttachEngine{NetworkID: "net", Node: "n1", EngineID: "e1", MTU: 1450})
	mustApply(t, f, RenameNetwork{NetworkID: "net", Name: "appnet"})
	return s, f
}

func TestCreateNetworkValidation(t *testing.T) {
	cases := []struct {
		name, subnet, rng string
		want              error
	}{
		{"ok", "10.1.0.0/24", "", nil},
		{"ok range", "10.1.0.0/24", "10.1.0.128/25", nil},
		{"overlap", "10.9.0.0/16", "", ErrConflict},
		{"overlap inside", "10.9.3.0/24", "", ErrConflict},
		{"not cidr", "10.1.0.0", "", ErrInvalid},
		{"host bits", "10.1.0.5/24", "", ErrInvalid},
		{"too small", "10.1.0.0/31", "", ErrInvalid},
		{"ipv6", "fd00::/64", "", ErrInvalid},
		{"range outside", "10.1.0.0/24", "10.2.0.0/25", ErrInvalid},
		{"range larger", "10.1.0.0/24", "10.1.0.0/23", ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewStore()
			f := NewFSM(s)
			mustApply(t, f, CreateNetwork{ID: "other", Subnet: "10.9.0.0/16"})
			_, err := apply(t, f, CreateNetwork{ID: "x", Subnet: c.subnet, IPRange: c.rng})
			if !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			_, nets, _ := s.Counts()
			if want := map[bool]int{true: 2, false: 1}[c.want == nil]; nets != want {
				t.Fatalf("networks = %d, want %d (nothing stored on error)", nets, want)
			}
		})
	}
}

func TestDefaultPoolCarving(t *testing.T) {
	f := NewFSM(NewStore())
	mustApply(t, f, CreateNetwork{ID: "a", Subnet: "10.200.0.0/24"})
	v := mustApply(t, f, CreateNetwork{ID: "b", DefaultPool: "10.200.0.0/22", DefaultBits: 24}).(*Network)
	if v.Subnet != "10.200.1.0/24" {
		t.Fatalf("subnet = %s, want the first free /24", v.Subnet)
	}
	mustApply(t, f, CreateNetwork{ID: "c", DefaultPool: "10.200.0.0/22", DefaultBits: 24})
	mustApply(t, f, CreateNetwork{ID: "d", DefaultPool: "10.200.0.0/22", DefaultBits: 24})
	if _, err := apply(t, f, CreateNetwork{ID: "e", DefaultPool: "10.200.0.0/22", DefaultBits: 24}); !errors.Is(err, ErrConflict) {
		t.Fatalf("exhausted default pool: err = %v", err)
	}
}

func TestGateway(t *testing.T) {
	s := NewStore()
	f := NewFSM(s)
	mustApply(t, f, CreateNetwork{ID: "n", Subnet: "10.1.0.0/24"})
	for _, bad := range []string{"10.2.0.1", "10.1.0.0", "10.1.0.255", "nope"} {
		if _, err := apply(t, f, SetGateway{NetworkID: "n", IP: bad}); err == nil {
			t.Errorf("gateway %s accepted", bad)
		}
	}
	if v := mustApply(t, f, SetGateway{NetworkID: "n"}); v != "10.1.0.1" {
		t.Fatalf("default gateway = %v", v)
	}
	mustApply(t, f, SetGateway{NetworkID: "n", IP: "10.1.0.1"}) // idempotent
	if _, err := apply(t, f, SetGateway{NetworkID: "n", IP: "10.1.0.9"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second gateway: %v", err)
	}
}

func TestEndpointAddressUniqueness(t *testing.T) {
	s, f := newNet(t, "10.1.0.0/24", "")
	ep := Endpoint{ID: "ep1", NetworkID: "net", Node: "n1", IP: "10.1.0.2"}
	mustApply(t, f, CreateEndpoint{Endpoint: ep})
	mustApply(t, f, CreateEndpoint{Endpoint: ep}) // replay is idempotent
	dup := ep
	dup.ID = "ep2"
	if _, err := apply(t, f, CreateEndpoint{Endpoint: dup}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate IP: %v", err)
	}
	gw := ep
	gw.ID, gw.IP = "ep3", "10.1.0.1"
	if _, err := apply(t, f, CreateEndpoint{Endpoint: gw}); !errors.Is(err, ErrConflict) {
		t.Fatalf("gateway IP: %v", err)
	}
	mustApply(t, f, DeleteEndpoint{ID: "ep1"})
	mustApply(t, f, CreateEndpoint{Endpoint: dup}) // reuse after release
	s.View(func(tx ReadTx) {
		if tx.IPUser("net", "10.1.0.2") != "ep2" {
			t.Fatal("index not updated")
		}
	})
}

func TestReservations(t *testing.T) {
	s, f := newNet(t, "10.1.0.0/24", "")
	mustApply(t, f, RegisterNode{Node: Node{ID: "n2", Hostname: "h2", Role: RoleWorker}})
	mustApply(t, f, AttachEngine{NetworkID: "net", Node: "n2", EngineID: "e2"})
	mustApply(t, f, ReserveAddress{NetworkID: "net", IP: "10.1.0.50", Node: "n1"})
	if _, err := apply(t, f, ReserveAddress{NetworkID: "net", IP: "10.1.0.50", Node: "n1"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("reserved twice by one host: %v", err)
	}
	if _, err := apply(t, f, ReserveAddress{NetworkID: "net", IP: "10.1.0.50", Node: "n2"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("reserved by another host: %v", err)
	}
	other := Endpoint{ID: "x", NetworkID: "net", Node: "n2", IP: "10.1.0.50"}
	if _, err := apply(t, f, CreateEndpoint{Endpoint: other}); !errors.Is(err, ErrConflict) {
		t.Fatalf("endpoint on another host's reservation: %v", err)
	}
	mine := Endpoint{ID: "y", NetworkID: "net", Node: "n1", IP: "10.1.0.50"}
	mustApply(t, f, CreateEndpoint{Endpoint: mine}) // consumes the reservation
	s.View(func(tx ReadTx) {
		if _, held := tx.Network("net").Reserved["10.1.0.50"]; held {
			t.Fatal("reservation not consumed by its endpoint")
		}
	})
	mustApply(t, f, ReserveAddress{NetworkID: "net", IP: "10.1.0.60", Node: "n1"})
	mustApply(t, f, ReleaseAddress{NetworkID: "net", IP: "10.1.0.60", Node: "n1"})
	mustApply(t, f, ReserveAddress{NetworkID: "net", IP: "10.1.0.60", Node: "n2"})
}

func TestClaimBlocksUntilExhausted(t *testing.T) {
	_, f := newNet(t, "10.1.0.0/24", "10.1.0.64/26")
	seen := map[string]bool{}
	for i := range 16 {
		b := mustApply(t, f, ClaimBlock{NetworkID: "net", Node: "n1"}).(string)
		if seen[b] {
			t.Fatalf("block %s claimed twice", b)
		}
		seen[b] = true
		if i == 0 && b != "10.1.0.64/30" {
			t.Fatalf("first block = %s", b)
		}
	}
	if _, err := apply(t, f, ClaimBlock{NetworkID: "net", Node: "n1"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("17th block: %v", err)
	}
}

func TestDetachAndRemoveInEitherOrder(t *testing.T) {
	for _, releaseFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("release pool first=%v", releaseFirst), func(t *testing.T) {
			s, f := newNet(t, "10.1.0.0/24", "")
			mustApply(t, f, ClaimBlock{NetworkID: "net", Node: "n1"})
			mustApply(t, f, CreateEndpoint{Endpoint: Endpoint{ID: "ep", NetworkID: "net", Node: "n1", IP: "10.1.0.2"}})
			steps := []Command{DetachEngine{NetworkID: "net", Node: "n1"}, RemoveNetwork{NetworkID: "net", Node: "n1"}}
			if releaseFirst {
				steps[0], steps[1] = steps[1], steps[0]
			}
			mustApply(t, f, steps[0])
			if _, nets, _ := s.Counts(); nets != 1 {
				t.Fatal("network deleted after the first of the two calls")
			}
			mustApply(t, f, steps[1])
			n, nets, eps := s.Counts()
			if n != 1 || nets != 0 || eps != 0 {
				t.Fatalf("counts = %d %d %d", n, nets, eps)
			}
		})
	}
}

func TestRemovePendingNetwork(t *testing.T) {
	s := NewStore()
	f := NewFSM(s)
	mustApply(t, f, CreateNetwork{ID: "p", Subnet: "10.1.0.0/24"})
	mustApply(t, f, RemoveNetwork{NetworkID: "p", Node: "n1"})
	if _, nets, _ := s.Counts(); nets != 0 {
		t.Fatal("pending network kept after its pool was released")
	}
}

func TestVNI(t *testing.T) {
	s := NewStore()
	f := NewFSM(s)
	mustApply(t, f, CreateNetwork{ID: "a", Subnet: "10.1.0.0/24"})
	mustApply(t, f, CreateNetwork{ID: "b", Subnet: "10.2.0.0/24"})
	mustApply(t, f, CreateNetwork{ID: "c", Subnet: "10.3.0.0/24"})
	if n := mustApply(t, f, AttachEngine{NetworkID: "a", Node: "n1", EngineID: "x"}).(*Network); n.VNI != MinVNI {
		t.Fatalf("vni = %d", n.VNI)
	}
	if n := mustApply(t, f, AttachEngine{NetworkID: "b", Node: "n1", EngineID: "y", VNI: 9000}).(*Network); n.VNI != 9000 {
		t.Fatalf("asked vni = %d", n.VNI)
	}
	if _, err := apply(t, f, AttachEngine{NetworkID: "c", Node: "n1", EngineID: "z", VNI: 9000}); !errors.Is(err, ErrConflict) {
		t.Fatalf("vni taken: %v", err)
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	s, f := newNet(t, "10.1.0.0/24", "")
	mustApply(t, f, ClaimBlock{NetworkID: "net", Node: "n1"})
	mustApply(t, f, ReserveAddress{NetworkID: "net", IP: "10.1.0.77", Node: "n1"})
	mustApply(t, f, CreateEndpoint{Endpoint: Endpoint{ID: "ep", NetworkID: "net", Node: "n1", IP: "10.1.0.2", CreatedAt: t0}})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	s2 := NewStore()
	if err := NewFSM(s2).Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.data, s2.data) || !reflect.DeepEqual(s.ipIndex, s2.ipIndex) {
		t.Fatalf("restored state differs:\n%+v\n%+v", s.data, s2.data)
	}
	if err := NewFSM(s2).Restore(io.NopCloser(bytes.NewReader([]byte("{}")))); err == nil {
		t.Fatal("restore of a snapshot without tables succeeded")
	}
}

func TestWatchAfterCommitOnly(t *testing.T) {
	s := NewStore()
	f := NewFSM(s)
	ch, cancel := s.Watch()
	defer cancel()
	mustApply(t, f, CreateNetwork{ID: "a", Subnet: "10.1.0.0/24"})
	if e := <-ch; e != (Event{Kind: "network", Action: "create", ID: "a"}) {
		t.Fatalf("event = %+v", e)
	}
	if _, err := apply(t, f, CreateNetwork{ID: "b", Subnet: "10.1.0.0/24"}); err == nil {
		t.Fatal("overlap accepted")
	}
	select {
	case e := <-ch:
		t.Fatalf("failed command published %+v", e)
	default:
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, err := NewFSM(NewStore()).ApplyBytes([]byte{250, '{', '}'}); err == nil {
		t.Fatal("unknown command applied")
	}
}

type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "mem" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

func TestMessage(t *testing.T) {
	err := fmt.Errorf("%w: subnet overlaps", ErrConflict)
	if got := Message(err); got != "subnet overlaps" {
		t.Fatalf("Message = %q", got)
	}
	if got := Message(fmt.Errorf("ctx: %w", err)); got != "ctx: conflict: subnet overlaps" {
		t.Fatalf("wrapped: %q", got)
	}
	if got := Message(ClassError("invalid", "invalid: bad")); got != "bad" {
		t.Fatalf("remote: %q", got)
	}
}
