package l4

import "context"

// Names of the data planes, best first. They are the values of
// xo_lb_dataplane_info{plane} and of a node's reported data plane.
const (
	PlaneIPVS      = "ipvs"
	PlaneNFTables  = "nftables"
	PlaneUserspace = "userspace"
)

// DataPlane balances the frontends of one network namespace.
//
// Apply makes the namespace match d, changing only what differs from the
// previous Apply (the first Apply replaces whatever a previous owner left).
// Apply(ctx, Desired{}) removes every frontend. Reconcile re-reads the
// kernel, repairs what drifted from the last applied state (missing or
// altered rules, stale entries) and returns how many things it fixed.
// Close releases the plane's handles and goroutines; see each plane for
// what stays in the kernel. A DataPlane is safe for concurrent use.
//
// Every plane here also takes Patch(ctx, upsert []Service, remove
// []Key): after a first Apply, it replaces the VIP services of upsert and
// removes those of remove (a key in both stays), reading and writing only
// those, so that the work grows with the change and not with the number
// of services; before the first Apply it returns ErrNeedApply. Consumers
// that use it declare the small interface themselves (lbproxy/vip).
type DataPlane interface {
	Name() string
	Apply(ctx context.Context, d Desired) error
	Reconcile(ctx context.Context) (fixes int, err error)
	Close() error
}
