package rpcenv

// Refs to the endpoints of JVM peers (Spark's NettyRpcEnv). A ref that
// arrives from a JVM inside a message is one already; these make one from
// an address.

// SetupJavaEndpointRef returns a verified ref to the endpoint name of a
// JVM's RpcEnv at addr: the lookup asks the JVM's endpoint-verifier with
// Spark's CheckExistence, and every message the ref sends is a Java
// stream.
func (e *Env) SetupJavaEndpointRef(addr Address, name string) (*Ref, error) {
	return e.SetupJavaEndpointRefByURI(EndpointAddress{Addr: addr, Name: name}.String())
}

// SetupJavaEndpointRefByURI is SetupJavaEndpointRef for
// spark://name@host:port.
func (e *Env) SetupJavaEndpointRefByURI(uri string) (*Ref, error) {
	ea, err := ParseEndpointURI(uri)
	if err != nil {
		return nil, err
	}
	ref := &Ref{env: e, addr: ea, java: true}
	verifierRef := &Ref{env: e, addr: EndpointAddress{Addr: ea.Addr, Name: VerifierName}, java: true}
	v, err := verifierRef.askWith(checkExistence{Name: ea.Name}, e.lookupTimeout.d, e.lookupTimeout.key, nil)
	if err != nil {
		return nil, err
	}
	if ok, _ := v.(bool); !ok {
		return nil, &NotFoundError{URI: uri}
	}
	return ref, nil
}

// JavaRefFor returns a ref to a JVM's endpoint at addr without asking
// whether it exists.
func (e *Env) JavaRefFor(addr EndpointAddress) *Ref { return &Ref{env: e, addr: addr, java: true} }

// Java reports whether the ref's endpoint lives in a JVM: messages to it
// are Java streams.
func (r *Ref) Java() bool { return r.java }
