package netpoll

// Setup is a connection as its bootstraps see it while it is being set
// up: beyond the *Client every handler gets, it can authenticate the
// connection (the client id, the pre-authentication frame cap), install
// session encryption and close the connection once pending frames are
// written. Only bootstraps get a Setup (ClientBootstrap.DoBootstrap,
// ServerBootstrap.DoBootstrap), so no handler can change who a
// connection's peer is or switch its encryption. A server bootstrap may
// keep its Setup for the handshake the handler it returns carries out.
type Setup struct{ c *Client }

// Client returns the connection being set up.
func (s *Setup) Client() *Client { return s.c }

// SetClientID records the id the peer authenticated as (Client.ClientID).
func (s *Setup) SetClientID(id string) { s.c.clientID.Store(id) }

// RequireAuthentication caps every frame the peer sends at
// spark.<module>.io.ember.preAuthMaxFrameLength until SetAuthenticated is
// called: a server bootstrap that authenticates calls it from DoBootstrap,
// so an unauthenticated peer cannot make the server buffer a large frame.
func (s *Setup) RequireAuthentication() { s.c.preAuth.Store(true) }

// SetAuthenticated lifts the pre-authentication frame cap (the handshake
// succeeded).
func (s *Setup) SetAuthenticated() { s.c.preAuth.Store(false) }

// EnableEncryption installs a session encryption layer on the connection
// (see Client.enableEncryption in layer.go): frames queued before the
// call go out as they are, every byte written after them goes through
// seal, and every byte read from now on through open. On the server it is
// called inside Receive right after answering the final handshake
// message; on the client once the final answer has arrived and before
// anything else is sent. It may be called once per connection.
func (s *Setup) EnableEncryption(seal Sealer, open Opener) error {
	return s.c.enableEncryption(seal, open)
}

// CloseAfterWrites closes the connection with cause once every frame
// queued before the call is on the wire, so that a last answer (an auth
// failure, say) reaches the peer before the connection ends.
func (s *Setup) CloseAfterWrites(cause error) { s.c.closeAfterWrites(cause) }
