package shoplab.shop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import shoplab.shop.errors.ShopException;
import shoplab.shop.service.OrderLine;
import shoplab.shop.service.RequestHash;
import shoplab.shop.web.RequestParsing;

/** Order bodies into lines, or the 400 naming the field (the Flask shop's BAD_ORDERS). */
class RequestParsingTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode json(String text) throws Exception {
        return JSON.readTree(text.replace('\'', '"'));
    }

    @Test
    void aGoodOrderKeepsItsLinesInOrder() throws Exception {
        var order = RequestParsing.orderRequest(json(
                "{'user_id': 5, 'items': [{'product_id': 9, 'quantity': 2}, {'product_id': 3, 'quantity': 1}]}"));
        assertThat(order.userId()).isEqualTo(5);
        assertThat(order.lines()).containsExactly(new OrderLine(9, 2, 0), new OrderLine(3, 1, 1));
    }

    @Test
    void aProductNamedTwiceIsOneLineWithTheQuantitiesAdded() throws Exception {
        var order = RequestParsing.orderRequest(json("{'user_id': 5, 'items': [{'product_id': 9, "
                + "'quantity': 2}, {'product_id': 3, 'quantity': 1}, {'product_id': 9, 'quantity': 1000}]}"));
        assertThat(order.lines()).containsExactly(new OrderLine(9, 1002, 0), new OrderLine(3, 1, 1));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{'items': [{'product_id': 1, 'quantity': 1}]}                  | missing   | user_id",
        "{'user_id': '1', 'items': [{'product_id': 1, 'quantity': 1}]}  | invalid   | user_id",
        "{'user_id': 0, 'items': [{'product_id': 1, 'quantity': 1}]}    | invalid   | user_id",
        "{'user_id': 18446744073709551616, 'items': []}                  | invalid   | user_id",
        "{'user_id': true, 'items': []}                                  | invalid   | user_id",
        "{'user_id': 1}                                                  | missing   | items",
        "{'user_id': 1, 'items': null}                                   | missing   | items",
        "{'user_id': 1, 'items': []}                                     | invalid   | items",
        "{'user_id': 1, 'items': {'product_id': 1}}                      | invalid   | items",
        "{'user_id': 1, 'items': [7]}                                    | invalid   | items[0]",
        "{'user_id': 1, 'items': [{'quantity': 1}]}                      | missing   | items[0].product_id",
        "{'user_id': 1, 'items': [{'product_id': 1}]}                    | missing   | items[0].quantity",
        "{'user_id': 1, 'items': [{'product_id': 1, 'quantity': 0}]}     | invalid   | items[0].quantity",
        "{'user_id': 1, 'items': [{'product_id': 1, 'quantity': 1.5}]}   | invalid   | items[0].quantity",
        "{'user_id': 1, 'items': [{'product_id': 1, 'quantity': 2.0}]}   | invalid   | items[0].quantity",
        "{'user_id': 1, 'items': [{'product_id': 1, 'quantity': 1001}]}  | invalid   | items[0].quantity",
        "{'user_id': 1, 'items': [{'product_id': 1, 'quantity': false}]} | invalid   | items[0].quantity",
        "{'user_id': 1, 'items': [{'product_id': 1, 'quantity': 1}, {'product_id': 1, 'quantity': 1001}]} | invalid | items[1].quantity",
    })
    void aBadOrderIsRejectedNamingTheField(String body, String code, String field) throws Exception {
        ShopException e = catchThrowableOfType(ShopException.class,
                () -> RequestParsing.orderRequest(json(body)));
        assertThat(e.status()).isEqualTo(400);
        assertThat(e.code()).isEqualTo(code);
        assertThat(e.field()).isEqualTo(field);
        assertThat(e.getMessage()).isNotBlank();
    }

    @Test
    void fiftyOneLinesAreTooMany() throws Exception {
        String line = "{'product_id': 1, 'quantity': 1}";
        String items = String.join(",", java.util.Collections.nCopies(51, line));
        ShopException e = catchThrowableOfType(ShopException.class,
                () -> RequestParsing.orderRequest(json("{'user_id': 1, 'items': [" + items + "]}")));
        assertThat(e.field()).isEqualTo("items");
    }

    @Test
    void errorBodyIsTheContractsShape() {
        ShopException e = ShopException.outOfStock("product 3 has less than 2 in stock", "items[1].quantity");
        assertThat(e.body()).isEqualTo(java.util.Map.of("error", java.util.Map.of(
                "code", "out_of_stock", "message", "product 3 has less than 2 in stock",
                "field", "items[1].quantity")));
        assertThat(ShopException.unavailable("deadlock", "x").body().get("error"))
                .isEqualTo(java.util.Map.of("code", "deadlock", "message", "x"));
    }

    @Test
    void requestHashIsTheFlaskShops() {
        // python: sha256(json.dumps([42, sorted([(7, 2), (3, 1)])], separators=(",", ":")))
        assertThat(RequestHash.of(42, List.of(new OrderLine(7, 2), new OrderLine(3, 1))))
                .isEqualTo("289f125be03f58a89f47f5acb5ce9c7ccfead2bdd194187aa84bbab80b8f4d6a");
    }
}
