// Package digest implements the SASL DIGEST-MD5 mechanism (RFC 2831) the
// way the JDK's built-in provider (com.sun.security.sasl.digest) does, so
// that Ember can authenticate with, and encrypt traffic to and from, a
// Spark JVM that runs with spark.authenticate=true and SASL.
//
// The package is pure: it turns tokens into tokens and never touches a
// network. The transport carries the tokens (inside Spark's SaslMessage
// frames) and, once a security layer is agreed, passes every outgoing
// piece through Layer.Wrap and every incoming one through Layer.Unwrap.
//
// # Model
//
// A Client and a Server each run one authentication exchange:
//
//	server                              client
//	Evaluate(empty)   -> challenge  ->  Evaluate(challenge) -> digest-response
//	Evaluate(response)-> rspauth=…  ->  Evaluate(rspauth)   -> nil, Complete()
//
// When the agreed quality of protection (QOP) is "auth-int" or
// "auth-conf", each side then asks for its Layer with SecurityLayer. With
// "auth" there is no layer: traffic goes in clear after the exchange.
//
// # Usage
//
//	srv := digest.NewServer(digest.SparkRealm, []string{"auth-conf", "auth"},
//		func(user string) (string, bool) { return secret, true })
//	cli := digest.NewClient(user, secret, "", digest.SparkDigestURI,
//		[]string{"auth-conf"})
//	challenge, _ := srv.Evaluate(nil)
//	response, _ := cli.Evaluate(challenge)
//	rspauth, err := srv.Evaluate(response) // err: wrong password, ...
//	_, err = cli.Evaluate(rspauth)         // err: server could not prove itself
//	cl, _ := cli.SecurityLayer()
//	sl, _ := srv.SecurityLayer()
//	tok, _ := cl.Wrap(nil, []byte("ping"))
//	msg, err := sl.Unwrap(nil, tok)
//
// # What is copied from the JDK, and why
//
// Spark talks to the JDK provider, so where RFC 2831 leaves room, or where
// the JDK departs from it, this package does what the JDK does:
//
//   - Spark creates both ends with a null protocol and server name
//     "default": the digest-uri is the literal "null/default" and the realm
//     "default" (SparkDigestURI, SparkRealm). A Server expects the
//     digest-uri "null/" + realm unless WithDigestURI says otherwise, and
//     compares it case-insensitively, as the JDK does.
//   - The server's challenge lists, in this order, the realm, nonce, qop,
//     charset=utf-8, cipher and algorithm=md5-sess directives; maxbuf is
//     left out because it is the default 65536. Nonces (and cnonces) are 30
//     random bytes in Base64, 40 characters. The offered ciphers, when
//     auth-conf is offered, are "3des,rc4,des,rc4-56,rc4-40".
//   - The client's digest-response lists charset, username, realm, nonce,
//     nc=00000001, cnonce, digest-uri, maxbuf=65536, response, qop, cipher
//     and authzid, in that order.
//   - QOP: the client walks its own preference list and takes the first
//     entry the server offers. Cipher: the client walks the strengths high,
//     medium, low (the JDK's default for javax.security.sasl.strength) and,
//     within one strength, the fixed order 3des, rc4, des, rc4-56, rc4-40,
//     whatever order the server listed them in. Offered everything, it
//     takes "3des".
//   - H(A1) hashes username, realm and password as ISO 8859-1 when every
//     character fits in it and as UTF-8 otherwise (when the server said
//     charset=utf-8; RFC 2831 section 2.1.2.1 says the same). For the
//     Base64 names and passwords Spark uses, both are plain ASCII.
//   - Keys (RFC 2831 sections 2.3 and 2.4): Kic and Kis sign, Kcc and Kcs
//     seal. The sealing keys hash the first 16 bytes of H(A1), or 7 for
//     rc4-56 and 5 for rc4-40; every RC4 variant then keys RC4 with all 16
//     bytes of Kc. DES takes Kc[0:7] and 3DES Kc[0:7] and Kc[7:14], each 7
//     bytes spread over 8 with odd-parity low bits; 3DES is EDE with K1, K2,
//     K1. The CBC IV is Kc[8:16], and the CBC chain runs on from message to
//     message, one chain per direction, as the JDK keeps one Cipher object
//     per direction.
//   - A token is msg, MAC, 0x0001, seq for auth-int and
//     CIPHER(msg, pad, MAC), 0x0001, seq for auth-conf, with MAC the first
//     10 bytes of HMAC-MD5(Ki, seq || msg) and seq a 4-byte big-endian
//     counter from 0 in each direction. DES and 3DES pad msg+MAC to a
//     multiple of 8 with 1 to 8 bytes each holding the pad length; RC4 does
//     not pad. Sequence numbers wrap after 2^32 messages, as the JDK's int
//     counter does.
//   - Wrapping an empty message gives an empty token and uses no sequence
//     number; unwrapping an empty token gives nothing. The receiver does
//     not hold the sender to maxbuf: Spark wraps 64 KiB pieces, whose
//     tokens exceed the 65536 the JDK announces.
//
// Where the JDK is lax this package is strict, which a JDK peer never
// notices because it never sends what is refused: Unwrap returns an error
// for a bad MAC or padding (the JDK silently drops such a token), checks
// every padding byte (the JDK reads only the last), refuses DES and 3DES
// ciphertext that is not whole blocks, duplicate directives, directives
// without a value, and maxbuf values of 16 or less.
//
// # Concurrency
//
// A Client or Server is one exchange and is not safe for concurrent use.
// A Layer keeps the state of its two directions apart: Wrap may run in
// one goroutine while Unwrap runs in another, but calls to Wrap must not
// overlap each other, nor calls to Unwrap. An auth-conf token that is
// decrypted and then fails a check leaves the receiving cipher out of step
// with the sender, so every later Unwrap fails as well (ErrLayerBroken);
// a token refused for its length alone, or any failed auth-int Unwrap,
// changes nothing.
//
// Errors never contain a password. They wrap the package's sentinels, so
// callers test them with errors.Is.
package digest
