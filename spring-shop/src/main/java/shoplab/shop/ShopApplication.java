package shoplab.shop;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.core.env.MapPropertySource;
import shoplab.shop.config.SettingsException;
import shoplab.shop.config.ShopSettings;

/**
 * The Spring shop's entry point: SHOP_* settings parsed once, then handed to Spring Boot as the
 * properties it configures Tomcat, HikariCP, Hibernate and Lettuce from.
 */
@SpringBootApplication
public class ShopApplication {

    public static void main(String[] args) {
        ShopSettings settings;
        try {
            settings = ShopSettings.fromEnv(System.getenv());
        } catch (SettingsException e) {
            System.err.println("spring-shop: configuration error: " + e.getMessage());
            System.exit(2);
            return;
        }
        application(settings).run(args);
    }

    /** The application the settings describe (main's, and the database tests'). */
    public static SpringApplication application(ShopSettings settings) {
        SpringApplication app = new SpringApplication(ShopApplication.class);
        app.addInitializers(context -> {
            // First in line: the SHOP_* environment decides, not a stray spring.* property.
            context.getEnvironment().getPropertySources()
                    .addFirst(new MapPropertySource("shopSettings", springProperties(settings)));
            context.getBeanFactory().registerSingleton("shopSettings", settings);
        });
        return app;
    }

    /** The Spring Boot properties that follow from the settings (the rest: application.properties). */
    public static Map<String, Object> springProperties(ShopSettings s) {
        Map<String, Object> p = new HashMap<>();
        p.put("server.address", s.host());
        p.put("server.port", s.port());
        p.put("server.tomcat.threads.max", s.threads());
        p.put("server.tomcat.threads.min-spare", Math.min(s.threads(), 10));
        p.put("spring.datasource.url", s.jdbcUrl());
        p.put("spring.datasource.username", s.database().user());
        p.put("spring.datasource.password", s.database().password());
        p.put("spring.datasource.hikari.maximum-pool-size", s.dbPoolSize());
        p.put("spring.datasource.hikari.minimum-idle", s.dbPoolSize());
        p.put("spring.datasource.hikari.connection-timeout", Math.round(s.dbPoolTimeout() * 1000));
        // Each session fails a lock wait in seconds, not the server's 50, and dates in UTC as
        // the Flask shop's sessions do (UTC_DATE() for the daily sales).
        p.put("spring.datasource.hikari.connection-init-sql",
                "SET SESSION innodb_lock_wait_timeout = " + s.lockWaitTimeout()
                        + ", SESSION time_zone = '+00:00'");
        p.put("spring.data.redis.url", s.redisUrl());
        String level = switch (s.logLevel()) {
            case "warning" -> "warn";
            case "critical" -> "error";
            default -> s.logLevel();
        };
        p.put("logging.level.root", level.toUpperCase(Locale.ROOT));
        return p;
    }
}
