//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xoverlay/xoverlay/netdriver"
)

var (
	_ netdriver.Kernel = (*Netlink)(nil)
	_ netdriver.Peers  = (*Netlink)(nil)
)

// Netlink drives the devices of one network namespace through a netlink
// handle bound to it. It is safe for concurrent use: operations are
// serialised so that their look-then-change steps do not interleave.
type Netlink struct {
	mu     sync.Mutex
	handle *netlink.Handle
	log    *slog.Logger
}

// New returns a Netlink working in the caller's current network namespace.
// A nil log discards messages.
func New(log *slog.Logger) (*Netlink, error) {
	h, err := netlink.NewHandle(syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("kernel: open netlink handle: %w", err)
	}
	return newNetlink(h, log), nil
}

// NewInNamespace returns a Netlink working in the network namespace at
// nsPath (e.g. /var/run/netns/NAME or /proc/PID/ns/net). The calling
// goroutine's namespace is left untouched.
func NewInNamespace(nsPath string, log *slog.Logger) (*Netlink, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("kernel: open netns %s: %w", nsPath, err)
	}
	// The netlink socket keeps the namespace alive; the fd is no longer needed.
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("kernel: open netlink handle in %s: %w", nsPath, err)
	}
	return newNetlink(h, log), nil
}

func newNetlink(h *netlink.Handle, log *slog.Logger) *Netlink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Netlink{handle: h, log: log.With("component", "kernel")}
}

// Close releases the netlink socket.
func (n *Netlink) Close() {
	if n != nil && n.handle != nil {
		n.handle.Close()
	}
}

// isNotFound reports whether err says the device does not exist.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, syscall.ENODEV)
}

// checkNames rejects names the kernel would refuse as interface names.
func checkNames(names ...string) error {
	for _, name := range names {
		if name == "" || len(name) > maxNameLen {
			return fmt.Errorf("invalid interface name %q (want 1-%d chars)", name, maxNameLen)
		}
	}
	return nil
}

// linkByName returns the device called name, or nil when there is none.
func (n *Netlink) linkByName(name string) (netlink.Link, error) {
	link, err := n.handle.LinkByName(name)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	return link, nil
}

// deleteLink deletes the device called name; a missing device is not an error.
func (n *Netlink) deleteLink(name string) error {
	link, err := n.linkByName(name)
	if err != nil || link == nil {
		return err
	}
	if err := n.handle.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	n.log.Info("deleted link", "name", name, "type", link.Type())
	return nil
}

// ensureLink returns the device named like want, creating it when missing
// and replacing it when fits reports that the existing one is wrong.
// created tells whether this call made the returned device.
func (n *Netlink) ensureLink(want netlink.Link, fits func(netlink.Link) bool) (link netlink.Link, created bool, err error) {
	name := want.Attrs().Name
	have, err := n.linkByName(name)
	if err != nil {
		return nil, false, err
	}
	if have != nil && fits(have) {
		return have, false, nil
	}
	if have != nil {
		n.log.Warn("replacing mismatched link", "name", name, "type", have.Type())
		if err := n.handle.LinkDel(have); err != nil && !isNotFound(err) {
			return nil, false, fmt.Errorf("delete mismatched %s: %w", name, err)
		}
	}
	if err := n.handle.LinkAdd(want); err != nil {
		return nil, false, fmt.Errorf("create %s %s: %w", want.Type(), name, err)
	}
	n.log.Info("created link", "name", name, "type", want.Type())
	// Re-read so that index, flags and kernel defaults are filled in.
	link, err = n.handle.LinkByName(name)
	if err != nil {
		n.undo(name)
		return nil, false, fmt.Errorf("look up new %s: %w", name, err)
	}
	return link, true, nil
}

// configure sets MTU (when mtu > 0) and master (when master > 0) and brings
// the device up, touching only what differs.
func (n *Netlink) configure(link netlink.Link, mtu, master int) error {
	a := link.Attrs()
	if mtu > 0 && a.MTU != mtu {
		if err := n.handle.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("set mtu of %s to %d: %w", a.Name, mtu, err)
		}
	}
	if master > 0 && a.MasterIndex != master {
		if err := n.handle.LinkSetMasterByIndex(link, master); err != nil {
			return fmt.Errorf("attach %s to master %d: %w", a.Name, master, err)
		}
	}
	if a.Flags&net.FlagUp == 0 {
		if err := n.handle.LinkSetUp(link); err != nil {
			return fmt.Errorf("set %s up: %w", a.Name, err)
		}
	}
	return nil
}

// undo deletes a device this call created, logging (not returning) errors:
// it runs while another error is already being reported.
func (n *Netlink) undo(name string) {
	if err := n.deleteLink(name); err != nil {
		n.log.Error("rollback failed", "name", name, "err", err)
	}
}

// rollback remembers the devices one operation created, to delete them in
// reverse order if a later step fails.
type rollback []string

func (r *rollback) add(name string) { *r = append(*r, name) }

func (r rollback) run(n *Netlink) {
	for i := len(r) - 1; i >= 0; i-- {
		n.undo(r[i])
	}
}

// dumpAttempts bounds retries of dumps the kernel interrupted because the
// table changed meanwhile (netlink.ErrDumpInterrupted, partial results).
const dumpAttempts = 5

func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for range dumpAttempts {
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return out, err
}
