// JDKPeer drives the JDK's own DIGEST-MD5 mechanism for jdk_test.go,
// configured the way Spark configures it (null protocol, server name
// "default", only the QOP property set). It reads commands on standard
// input, one a line, and answers each with one line:
//
//   N role qop cipher user password  start a session (each field Base64;
//                                    role "client" or "server"; cipher may
//                                    be empty: the JDK's own choice)
//   T token                          evaluate a peer token -> "T token", or
//                                    "T -" when the JDK returns null
//   S                                -> "S qop strength" once complete,
//                                    "S incomplete" before
//   W data / U token                 wrap / unwrap -> "W token" / "U data"
//
// Payloads are Base64. Any exception answers "E <exception>".
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.CallbackHandler;
import javax.security.auth.callback.NameCallback;
import javax.security.auth.callback.PasswordCallback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.sasl.AuthorizeCallback;
import javax.security.sasl.RealmCallback;
import javax.security.sasl.Sasl;
import javax.security.sasl.SaslClient;
import javax.security.sasl.SaslServer;

public class JDKPeer {
    private static SaslClient client;
    private static SaslServer server;

    private static String text(String b64) {
        return new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8);
    }

    private static void start(String[] f) throws Exception {
        String role = text(f[1]), qop = text(f[2]), cipher = text(f[3]);
        String user = text(f[4]), password = text(f[5]);
        Map<String, String> props = new HashMap<>();
        props.put(Sasl.QOP, qop);
        if (!cipher.isEmpty()) {
            props.put("com.sun.security.sasl.digest.cipher", cipher);
        }
        CallbackHandler handler = (Callback[] callbacks) -> {
            for (Callback cb : callbacks) {
                if (cb instanceof NameCallback) {
                    ((NameCallback) cb).setName(user);
                } else if (cb instanceof PasswordCallback) {
                    ((PasswordCallback) cb).setPassword(password.toCharArray());
                } else if (cb instanceof RealmCallback) {
                    RealmCallback rc = (RealmCallback) cb;
                    rc.setText(rc.getDefaultText());
                } else if (cb instanceof AuthorizeCallback) {
                    AuthorizeCallback ac = (AuthorizeCallback) cb;
                    boolean same = ac.getAuthenticationID().equals(ac.getAuthorizationID());
                    ac.setAuthorized(same);
                    if (same) {
                        ac.setAuthorizedID(ac.getAuthorizationID());
                    }
                } else {
                    throw new UnsupportedCallbackException(cb);
                }
            }
        };
        client = null;
        server = null;
        if (role.equals("client")) {
            client = Sasl.createSaslClient(new String[] {"DIGEST-MD5"}, null, null, "default", props, handler);
        } else {
            props.put(Sasl.SERVER_AUTH, "true");
            server = Sasl.createSaslServer("DIGEST-MD5", null, "default", props, handler);
        }
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        Base64.Encoder enc = Base64.getEncoder();
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.split(" ", -1);
            byte[] arg = f.length > 1 && !f[0].equals("N") ? Base64.getDecoder().decode(f[1]) : new byte[0];
            try {
                switch (f[0]) {
                    case "N":
                        start(f);
                        out.println("N ok");
                        break;
                    case "T": {
                        byte[] r = client != null ? client.evaluateChallenge(arg) : server.evaluateResponse(arg);
                        out.println("T " + (r == null ? "-" : enc.encodeToString(r)));
                        break;
                    }
                    case "S": {
                        boolean done = client != null ? client.isComplete() : server.isComplete();
                        if (!done) {
                            out.println("S incomplete");
                            break;
                        }
                        Object q = client != null ? client.getNegotiatedProperty(Sasl.QOP) : server.getNegotiatedProperty(Sasl.QOP);
                        Object s = client != null ? client.getNegotiatedProperty(Sasl.STRENGTH) : server.getNegotiatedProperty(Sasl.STRENGTH);
                        out.println("S " + q + " " + s);
                        break;
                    }
                    case "W": {
                        byte[] r = client != null ? client.wrap(arg, 0, arg.length) : server.wrap(arg, 0, arg.length);
                        out.println("W " + enc.encodeToString(r));
                        break;
                    }
                    case "U": {
                        byte[] r = client != null ? client.unwrap(arg, 0, arg.length) : server.unwrap(arg, 0, arg.length);
                        out.println("U " + enc.encodeToString(r));
                        break;
                    }
                    default:
                        out.println("E unknown command " + f[0]);
                }
            } catch (Exception e) {
                out.println("E " + e.toString().replace('\n', ' '));
            }
        }
    }
}
