package shoplab.shop.web;

import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpMethod;
import org.springframework.http.ResponseEntity;
import org.springframework.web.HttpMediaTypeNotSupportedException;
import org.springframework.web.HttpRequestMethodNotSupportedException;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.method.annotation.MethodArgumentTypeMismatchException;
import org.springframework.web.servlet.NoHandlerFoundException;
import org.springframework.web.servlet.resource.NoResourceFoundException;
import shoplab.shop.errors.ShopException;

/**
 * The one place that maps every error to the shop's JSON error contract,
 * {@code {"error": {"code", "message", "field"?}}}: the domain's, Spring MVC's own (an unknown
 * path, a method the route does not take) and anything unexpected (500, logged).
 */
@RestControllerAdvice
public class ErrorAdvice {

    private static final Logger log = LoggerFactory.getLogger(ErrorAdvice.class);

    @ExceptionHandler(ShopException.class)
    public ResponseEntity<Map<String, Object>> shop(ShopException e) {
        var response = ResponseEntity.status(e.status());
        if (e.status() == 503) {
            response.header("Retry-After", "1"); // a deadlock's retry usually wins at once
        }
        return response.body(e.body());
    }

    @ExceptionHandler({NoHandlerFoundException.class, NoResourceFoundException.class})
    public ResponseEntity<Map<String, Object>> unknownPath(Exception e) {
        return error(404, "not_found", "The requested URL was not found on the server.");
    }

    /** A path id too large for a BIGINT: no such row, as the Flask shop answers. */
    @ExceptionHandler(MethodArgumentTypeMismatchException.class)
    public ResponseEntity<Map<String, Object>> badPathId(MethodArgumentTypeMismatchException e) {
        return ResponseEntity.status(404).body(new ShopException(404, "not_found",
                e.getName() + " " + e.getValue() + " does not exist", e.getName()).body());
    }

    @ExceptionHandler(HttpRequestMethodNotSupportedException.class)
    public ResponseEntity<Map<String, Object>> wrongMethod(HttpRequestMethodNotSupportedException e) {
        Set<HttpMethod> allowed = e.getSupportedHttpMethods();
        var response = ResponseEntity.status(405);
        if (allowed != null) {
            // RFC 9110: a 405 names what the resource takes.
            response.header("Allow", allowed.stream().map(HttpMethod::name).sorted()
                    .collect(Collectors.joining(", ")));
        }
        return response.body(new ShopException(405, "method_not_allowed",
                "The method is not allowed for the requested URL.", null).body());
    }

    @ExceptionHandler(HttpMediaTypeNotSupportedException.class)
    public ResponseEntity<Map<String, Object>> wrongMediaType(HttpMediaTypeNotSupportedException e) {
        return error(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json");
    }

    @ExceptionHandler(Exception.class)
    public ResponseEntity<Map<String, Object>> unexpected(Exception e) {
        log.error("unhandled error", e);
        return error(500, "internal", "internal server error");
    }

    private static ResponseEntity<Map<String, Object>> error(int status, String code, String message) {
        return ResponseEntity.status(status).body(new ShopException(status, code, message, null).body());
    }
}
