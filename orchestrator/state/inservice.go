package state

// InService reports whether an endpoint takes traffic: discovery answers
// it and the load balancers send to it. Its container runs, is healthy
// when it has a healthcheck, and its node is not down (a node that is
// down is presumed gone with its containers), and its task, if it runs
// one, is neither draining nor wanted stopped, and `xo drain` did not
// take it out.
func (tx ReadTx) InService(ep *Endpoint) bool {
	if !ep.InService() || ep.Drained || tx.taskOutOfService(ep) {
		return false
	}
	n := tx.Node(ep.Node)
	return n == nil || n.Status != StatusDown
}

// EachEndpoint calls fn for every endpoint, in no particular order (a
// pass without the sort of Endpoints), until fn returns false.
func (tx ReadTx) EachEndpoint(fn func(*Endpoint) bool) {
	for _, ep := range tx.s.data.Endpoints {
		if !fn(ep) {
			return
		}
	}
}
