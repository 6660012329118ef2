package shoplab.shop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import shoplab.shop.config.DatabaseUrl;
import shoplab.shop.config.SettingsException;
import shoplab.shop.config.ShopSettings;

/** SHOP_* parsing: the Flask shop's URL form and defaults, one line naming a bad variable. */
class SettingsTest {

    private static Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        env.put("SHOP_DATABASE_URL", "mysql+pymysql://shop:shop@127.0.0.1:13306/shop");
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return env;
    }

    @Test
    void sqlalchemyUrlBecomesJdbcWithTheSessionTimeouts() {
        ShopSettings s = ShopSettings.fromEnv(env());
        assertThat(s.jdbcUrl()).isEqualTo(
                "jdbc:mariadb://127.0.0.1:13306/shop?connectTimeout=2000&socketTimeout=7000"
                + "&useServerPrepStmts=true");
        assertThat(s.database().user()).isEqualTo("shop");
        assertThat(s.database().password()).isEqualTo("shop");
    }

    @Test
    void urlWithoutPasswordOrPortAndWithQueryString() {
        DatabaseUrl url = DatabaseUrl.parse("X", "mysql+pymysql://root@db/shop_it?charset=utf8mb4");
        assertThat(url).isEqualTo(new DatabaseUrl("db", 3306, "shop_it", "root", ""));
    }

    @Test
    void passwordIsPercentDecoded() {
        DatabaseUrl url = DatabaseUrl.parse("X", "mysql+pymysql://u:p%40ss%2Fw+rd@h:1/d");
        assertThat(url.password()).isEqualTo("p@ss/w+rd");
    }

    @Test
    void defaultsAreTheFlaskShops() {
        ShopSettings s = ShopSettings.fromEnv(env());
        assertThat(s.orderStrategy()).isEqualTo("safe");
        assertThat(s.host()).isEqualTo("127.0.0.1");
        assertThat(s.port()).isEqualTo(8000);
        assertThat(s.lockWaitTimeout()).isEqualTo(5);
        assertThat(s.orderMaxRetries()).isEqualTo(5);
        assertThat(s.maxCharge()).isEqualTo(1_000_000);
        assertThat(s.dbPoolSize()).isEqualTo(s.threads());
    }

    @Test
    void bindAndPoolFollowTheEnvironment() {
        ShopSettings s = ShopSettings.fromEnv(env("SHOP_BIND", "0.0.0.0:18001", "SHOP_THREADS", "24",
                "SHOP_ORDER_STRATEGY", "naive"));
        assertThat(s.host()).isEqualTo("0.0.0.0");
        assertThat(s.port()).isEqualTo(18001);
        assertThat(s.dbPoolSize()).isEqualTo(24);
        assertThat(s.orderStrategy()).isEqualTo("naive");
    }

    @Test
    void eachBadValueNamesItsVariable() {
        assertBad(env("SHOP_DATABASE_URL", ""), "SHOP_DATABASE_URL is not set");
        assertBad(env("SHOP_DATABASE_URL", "jdbc:mariadb://h/d"), "SHOP_DATABASE_URL must start with");
        assertBad(env("SHOP_DATABASE_URL", "mysql+pymysql://h:99999/d"), "SHOP_DATABASE_URL");
        assertBad(env("SHOP_ORDER_STRATEGY", "fast"), "SHOP_ORDER_STRATEGY='fast' is not one of safe, naive");
        assertBad(env("SHOP_LOCK_WAIT_TIMEOUT", "0"), "SHOP_LOCK_WAIT_TIMEOUT=0 is out of range");
        assertBad(env("SHOP_DB_POOL_SIZE", "many"), "SHOP_DB_POOL_SIZE='many' is not an integer");
        assertBad(env("SHOP_BIND", "8000"), "SHOP_BIND must be HOST:PORT");
        assertBad(env("SHOP_SALES_MODE", "async"), "SHOP_SALES_MODE='async'");
        assertBad(env("SHOP_REDIS_URL", "localhost:6379"), "SHOP_REDIS_URL must be a redis:// URL");
    }

    private static void assertBad(Map<String, String> env, String message) {
        assertThatThrownBy(() -> ShopSettings.fromEnv(env))
                .isInstanceOf(SettingsException.class)
                .hasMessageContaining(message)
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }
}
