package dnsd

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// maxInterned bounds the question names a worker keeps (internNames);
// when full it starts over, so a flood of distinct names costs what
// miekg/dns's unpacking costs, one allocation per name.
const maxInterned = 1024

// Header bits, as miekg/dns unpacks them (its unexported _QR ... _CD).
const (
	bitQR = 1 << 15
	bitAA = 1 << 10
	bitTC = 1 << 9
	bitRD = 1 << 8
	bitRA = 1 << 7
	bitZ  = 1 << 6
	bitAD = 1 << 5
	bitCD = 1 << 4
)

// internNames gives each question name seen one string, so that the
// names a server is asked again and again are not allocated per query.
// It belongs to one worker.
type internNames struct {
	m   map[string]string
	buf [256]byte // the name being built, in presentation form
}

// unpackQuery unpacks data into m (zeroed by the caller) as m.Unpack
// does, without allocating for the common query: a header, one question
// whose name is plain labels (letters, digits, '-' and '_'; no
// compression pointer) and nothing else. The question then lives in q
// and its name in the worker's interned names. Anything else goes
// through m.Unpack.
func (in *internNames) unpackQuery(m *dns.Msg, data []byte, q *[1]dns.Question) error {
	name, qtype, qclass, ok := in.plainQuestion(data)
	if !ok {
		return m.Unpack(data)
	}
	bits := binary.BigEndian.Uint16(data[2:])
	m.Id = binary.BigEndian.Uint16(data)
	m.Response = bits&bitQR != 0
	m.Opcode = int(bits>>11) & 0xF
	m.Authoritative = bits&bitAA != 0
	m.Truncated = bits&bitTC != 0
	m.RecursionDesired = bits&bitRD != 0
	m.RecursionAvailable = bits&bitRA != 0
	m.Zero = bits&bitZ != 0
	m.AuthenticatedData = bits&bitAD != 0
	m.CheckingDisabled = bits&bitCD != 0
	m.Rcode = int(bits & 0xF)
	q[0] = dns.Question{Name: name, Qtype: qtype, Qclass: qclass}
	m.Question = q[:1:1]
	return nil
}

// plainQuestion reads the question of a message that is a header with
// counts 1, 0, 0, 0 and one question of plain labels, filling no more
// and no less than the whole message.
func (in *internNames) plainQuestion(data []byte) (name string, qtype, qclass uint16, ok bool) {
	if len(data) < 12+1+4 || binary.BigEndian.Uint16(data[4:]) != 1 ||
		binary.BigEndian.Uint16(data[6:]) != 0 || binary.BigEndian.Uint16(data[8:]) != 0 ||
		binary.BigEndian.Uint16(data[10:]) != 0 {
		return "", 0, 0, false
	}
	off, n := 12, 0
	for {
		if off >= len(data) {
			return "", 0, 0, false
		}
		l := int(data[off])
		off++
		if l == 0 {
			break
		}
		// Longer labels, pointers and extended label types: the slow
		// path (which also rejects names over 255 octets on the wire).
		if l > 63 || off+l > len(data) || n+l+1 > 254 {
			return "", 0, 0, false
		}
		for _, c := range data[off : off+l] {
			if !plainByte(c) {
				return "", 0, 0, false
			}
		}
		n += copy(in.buf[n:], data[off:off+l])
		in.buf[n] = '.'
		n++
		off += l
	}
	if off+4 != len(data) {
		return "", 0, 0, false
	}
	if n == 0 {
		in.buf[0] = '.'
		n = 1
	}
	return in.intern(in.buf[:n]), binary.BigEndian.Uint16(data[off:]), binary.BigEndian.Uint16(data[off+2:]), true
}

// plainByte tells whether c stands for itself in a name's presentation
// form (miekg/dns escapes the others).
func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// intern returns b as a string, the same one every time it is asked.
func (in *internNames) intern(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]string, maxInterned)
	}
	s := string(b)
	in.m[s] = s
	return s
}
