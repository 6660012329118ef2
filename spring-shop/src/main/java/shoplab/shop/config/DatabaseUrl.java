package shoplab.shop.config;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * SHOP_DATABASE_URL in the Flask shop's SQLAlchemy form, turned into what JDBC wants.
 *
 * <p>The lab hands both shops one URL, {@code mysql+pymysql://user:pass@host:port/db}, so this
 * is the one place that reads it: user and password percent-decoded as SQLAlchemy does, the
 * port 3306 when none is given, the query string (a driver option of pymysql's) left out.
 */
public record DatabaseUrl(String host, int port, String database, String user, String password) {

    static final String SCHEME = "mysql+pymysql://";
    // mysql+pymysql://user:pass@host:port/db?charset=utf8mb4 (user, password, port optional)
    private static final Pattern FORM = Pattern.compile(
            "^mysql\\+pymysql://(?:([^:@/]*)(?::([^@/]*))?@)?([^:/?@]+|\\[[0-9a-fA-F:]+])"
                    + "(?::(\\d+))?/([^?/]*)(?:\\?.*)?$");

    public static DatabaseUrl parse(String name, String raw) {
        if (raw == null || raw.isEmpty()) {
            throw new SettingsException(name + " is not set (e.g. " + SCHEME
                    + "shop:shop@127.0.0.1:3306/shop)");
        }
        if (!raw.startsWith(SCHEME)) {
            throw new SettingsException(name + " must start with " + SCHEME + ", got '" + raw + "'");
        }
        Matcher m = FORM.matcher(raw);
        if (!m.matches()) {
            throw new SettingsException(name + " is not " + SCHEME
                    + "USER[:PASSWORD]@HOST[:PORT]/DATABASE, got '" + raw + "'");
        }
        int port = 3306;
        if (m.group(4) != null) {
            port = Integer.parseInt(m.group(4).length() > 5 ? "0" : m.group(4));
            if (port < 1 || port > 65535) {
                throw new SettingsException(name + " has no valid port: '" + raw + "'");
            }
        }
        if (m.group(5).isEmpty()) {
            throw new SettingsException(name + " names no database: '" + raw + "'");
        }
        return new DatabaseUrl(m.group(3), port, decode(m.group(5)),
                m.group(1) == null ? "" : decode(m.group(1)),
                m.group(2) == null ? "" : decode(m.group(2)));
    }

    private static String decode(String part) {
        return URLDecoder.decode(part.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    /**
     * The MariaDB Connector/J URL, with the session's timeouts in milliseconds. Server-side
     * prepared statements (each prepared once per connection, then cached): the statement the
     * server runs, and so the one SHOW ENGINE INNODB STATUS reports, is Hibernate's text with its
     * {@code ?} placeholders, as in the seed's log, not a copy with the values spliced in.
     */
    public String jdbcUrl(double connectTimeoutSeconds, double socketTimeoutSeconds) {
        return "jdbc:mariadb://" + host + ":" + port + "/" + database
                + "?connectTimeout=" + Math.round(connectTimeoutSeconds * 1000)
                + "&socketTimeout=" + Math.round(socketTimeoutSeconds * 1000)
                + "&useServerPrepStmts=true";
    }

    @Override
    public String toString() {
        return "DatabaseUrl[" + user + "@" + host + ":" + port + "/" + database + "]";
    }
}
