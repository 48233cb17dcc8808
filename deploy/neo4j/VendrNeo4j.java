import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Neo4j Community for Vendr on one machine (graph/infra/neo4j_local.py starts it): Bolt on
 * 127.0.0.1 only, no HTTP, authentication on, memory sized for a small machine.
 *
 * <p>Usage: {@code VendrNeo4j HOME PORT [--until-stdin-closes]}, the password in $NEO4J_PASSWORD
 * (at least 8 characters), the page cache's size in $NEO4J_PAGECACHE_MB. Prints {@code READY bolt://127.0.0.1:PORT} once the password is set.
 * Stops cleanly on SIGTERM or SIGINT, and with the flag also when stdin reaches its end (the
 * test run that started it is gone). Exit codes: 2 usage, 3 did not start (a port in use), 4
 * could not set the password.
 */
public final class VendrNeo4j {
    // $NEO4J_PAGECACHE_MB: the store's page cache (256 MiB; more for benchmark-sized graphs)
    private static final long PAGECACHE_BYTES =
            Long.parseLong(System.getenv().getOrDefault("NEO4J_PAGECACHE_MB", "256")) << 20;
    // a backstop: the driver gives each statement its own, shorter timeout
    private static final Duration TX_TIMEOUT = Duration.ofSeconds(120);

    public static void main(String[] args) {
        if (args.length < 2 || args.length > 3) {
            die(2, "usage: VendrNeo4j HOME PORT [--until-stdin-closes]");
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        boolean watchStdin = args.length == 3 && args[2].equals("--until-stdin-closes");
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            die(2, "NEO4J_PASSWORD: at least 8 characters (Neo4j's minimum)");
        }
        DatabaseManagementService dbms;
        try {
            dbms = new DatabaseManagementServiceBuilder(home)
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                    .setConfig(HttpConnector.enabled, false)
                    .setConfig(HttpsConnector.enabled, false)
                    .setConfig(GraphDatabaseSettings.auth_enabled, true)
                    .setConfig(GraphDatabaseSettings.pagecache_memory, PAGECACHE_BYTES)
                    .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                    .setConfig(GraphDatabaseSettings.udc_enabled, false)
                    .setConfig(GraphDatabaseSettings.transaction_timeout, TX_TIMEOUT)
                    // else every stop waits five seconds for Netty to go quiet
                    .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                    .build();
        } catch (RuntimeException e) {
            die(3, "Neo4j did not start: " + rootMessage(e));
            return;
        }
        AtomicBoolean stopped = new AtomicBoolean();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (stopped.compareAndSet(false, true)) {
                dbms.shutdown();
            }
        }, "vendr-neo4j-stop"));
        try {
            // a new store has neo4j/neo4j with a change required; a restart has ours already
            dbms.database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
        } catch (RuntimeException e) {
            String message = rootMessage(e);
            if (!message.contains("Old password and new password cannot be the same")) {
                die(4, "could not set the password: " + message); // the hook stops the server
            }
        }
        // Bolt listens before the password is set: this line, not the port, says it is ready
        System.out.println("READY bolt://127.0.0.1:" + port);
        System.out.flush();
        if (watchStdin) {
            try {
                while (System.in.read() != -1) {
                    // nothing is read; the end of stdin is the signal
                }
            } catch (java.io.IOException ignored) {
                // a broken stdin ends the wait as its end would
            }
            System.exit(0);
        }
        try {
            Thread.currentThread().join(); // until a signal runs the shutdown hook
        } catch (InterruptedException e) {
            System.exit(0);
        }
    }

    private static String rootMessage(Throwable e) {
        StringBuilder text = new StringBuilder(String.valueOf(e.getMessage()));
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            text.append(" <- ").append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
        }
        return text.toString();
    }

    private static void die(int code, String message) {
        System.err.println(message);
        System.exit(code);
    }
}
