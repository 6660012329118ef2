package shoplab.shop;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;
import org.springframework.boot.WebApplicationType;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.JdbcTemplate;
import shoplab.shop.config.ShopSettings;
import shoplab.shop.db.Database;
import shoplab.shop.service.OrderBody;
import shoplab.shop.service.OrderLine;
import shoplab.shop.service.OrderPlacement;
import shoplab.shop.service.RequestHash;

/**
 * The shop on a real MariaDB whose schema `flask --app shop init-db` made and `seed` filled
 * (users and products 1..10 at least): the context boots with ddl-auto=validate, and each strategy
 * sends the statements of the story. Runs only when SPRING_SHOP_TEST_DATABASE_URL names such a
 * database (tests/integration/test_spring_shop_maven.py gives it one); skipped otherwise.
 */
@EnabledIfEnvironmentVariable(named = "SPRING_SHOP_TEST_DATABASE_URL", matches = ".+")
class DatabaseTest {

    static final String WHOLE_ROW = "/* update for shoplab.shop.domain.User */"
            + "update users set deleted_at=?,is_deleted=?,point=?,username=? where id=?";

    private static ConfigurableApplicationContext context;
    private static OrderPlacement placement;
    private static Database database;
    private static JdbcTemplate jdbc;

    @BeforeAll
    static void boot() {
        Map<String, String> env = new HashMap<>();
        env.put("SHOP_DATABASE_URL", System.getenv("SPRING_SHOP_TEST_DATABASE_URL"));
        env.put("SHOP_REDIS_URL", "redis://127.0.0.1:1/0"); // never used by these tests
        System.setProperty("spring.jpa.properties.hibernate.session_factory.statement_inspector",
                RecordingInspector.class.getName());
        var app = ShopApplication.application(ShopSettings.fromEnv(env));
        app.setWebApplicationType(WebApplicationType.NONE);
        context = app.run();
        placement = context.getBean(OrderPlacement.class);
        database = context.getBean(Database.class);
        jdbc = context.getBean(JdbcTemplate.class);
    }

    @AfterAll
    static void close() {
        if (context != null) {
            context.close();
        }
    }

    @BeforeEach
    void forget() {
        RecordingInspector.STATEMENTS.clear();
    }

    private static OrderBody place(boolean naive, long userId, List<OrderLine> lines) {
        String hash = RequestHash.of(userId, lines);
        return database.write("place_order", 0, () -> naive
                ? placement.placeNaive(userId, lines, null, hash)
                : placement.placeSafe(userId, lines, null, hash));
    }

    private static long point(long userId) {
        return jdbc.queryForObject("select point from users where id = ?", Long.class, userId);
    }

    @Test
    void naiveOrderWritesTheWholeUserRowBackAfterALockingRead() {
        long before = point(2);
        OrderBody order = place(true, 2, List.of(new OrderLine(3, 2)));
        assertThat(point(2)).isEqualTo(before - order.total());
        List<String> sql = RecordingInspector.STATEMENTS;
        int insert = indexOf(sql, "insert into orders");
        int share = indexOf(sql, "lock in share mode");
        int update = sql.indexOf(WHOLE_ROW);
        assertThat(insert).as("the order insert (the foreign key's shared lock)").isNotNegative();
        assertThat(share).as("the locking re-read of the user").isGreaterThan(insert);
        assertThat(update).as("the full-row update, after both").isGreaterThan(share);
    }

    @Test
    void safeOrderChangesTheBalanceByIdGuardedAndNeverTheRow() {
        long before = point(4);
        OrderBody order = place(false, 4, List.of(new OrderLine(5, 1), new OrderLine(2, 1)));
        assertThat(point(4)).isEqualTo(before - order.total());
        List<String> sql = RecordingInspector.STATEMENTS;
        int charge = indexOf(sql, "update users set point = point - ? where id = ? and point >= ?");
        assertThat(charge).isNotNegative();
        assertThat(sql).noneMatch(s -> s.contains("deleted_at=?"));
        // One lock order: the user, then the products by ascending id.
        int two = indexOf(sql, "update products set stock");
        assertThat(two).isGreaterThan(charge);
        assertThat(sql.get(two + 1)).contains("update products set stock");
    }

    @Test
    void theDailySalesAreKeptInTheOrdersTransaction() {
        Long sold = jdbc.queryForObject("select coalesce(sum(quantity), 0) from product_sales_daily"
                + " where product_id = 6 and day = utc_date()", Long.class);
        place(false, 6, List.of(new OrderLine(6, 3)));
        assertThat(jdbc.queryForObject("select sum(quantity) from product_sales_daily"
                + " where product_id = 6 and day = utc_date()", Long.class)).isEqualTo(sold + 3);
    }

    private static int indexOf(List<String> statements, String part) {
        for (int i = 0; i < statements.size(); i++) {
            if (statements.get(i).contains(part)) {
                return i;
            }
        }
        return -1;
    }
}
