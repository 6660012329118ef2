package shoplab.shop.web;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.springframework.data.redis.connection.RedisConnectionFactory;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.ResponseBody;
import shoplab.shop.config.ShopSettings;

/**
 * /healthz, /readyz and /openapi.json with the Flask shop's semantics, and /metrics, the
 * contract's name for the Prometheus scrape, forwarded to Spring Boot's /actuator/prometheus.
 *
 * <p>The OpenAPI document is the Flask shop's (shop/openapi.py), written into the jar at build
 * time (scripts/setup.sh): one source for both shops. Only SHOP_MAX_CHARGE is the running
 * shop's, as the Flask shop fills it in from its settings.
 */
@Controller
public class ProbeController {

    static final String OPENAPI_RESOURCE = "/openapi.json";

    private final DataSource database;
    private final RedisConnectionFactory redis;
    private final ShopSettings settings;
    private final byte[] openapi;

    public ProbeController(DataSource database, RedisConnectionFactory redis, ShopSettings settings,
                           ObjectMapper json) throws IOException {
        this.database = database;
        this.redis = redis;
        this.settings = settings;
        this.openapi = openapi(json, settings.maxCharge());
    }

    static byte[] openapi(ObjectMapper json, long maxCharge) throws IOException {
        try (InputStream in = ProbeController.class.getResourceAsStream(OPENAPI_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("openapi.json is not in the jar: build it with `make setup`");
            }
            ObjectNode spec = (ObjectNode) json.readTree(in);
            ObjectNode amount = (ObjectNode) spec.at("/paths/~1api~1users~1{user_id}~1points~1charge/post"
                    + "/requestBody/content/application~1json/schema/properties/amount");
            amount.put("maximum", maxCharge);
            return json.writeValueAsBytes(spec);
        }
    }

    @GetMapping("/healthz")
    @ResponseBody
    public Map<String, String> healthz() {
        return Map.of("status", "ok");
    }

    @GetMapping("/readyz")
    @ResponseBody
    public ResponseEntity<Map<String, Object>> readyz() {
        Map<String, String> checks = new LinkedHashMap<>();
        try (var connection = database.getConnection()) {
            checks.put("database", connection.isValid(2) ? "ok" : "error: not valid");
        } catch (Exception e) {
            checks.put("database", "error: " + e.getClass().getSimpleName());
        }
        try (var connection = redis.getConnection()) {
            connection.ping();
            checks.put("redis", "ok");
        } catch (Exception e) {
            checks.put("redis", "error: " + e.getClass().getSimpleName());
        }
        boolean ready = checks.values().stream().allMatch("ok"::equals);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", ready ? "ready" : "not_ready");
        body.put("checks", checks);
        body.put("order_strategy", settings.orderStrategy());
        body.put("sales_mode", "sync");
        return ResponseEntity.status(ready ? 200 : 503).body(body);
    }

    @GetMapping("/openapi.json")
    public ResponseEntity<byte[]> openapi() {
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(openapi);
    }

    @GetMapping("/metrics")
    public String metrics() {
        return "forward:/actuator/prometheus";
    }
}
