package shoplab.shop.config;

/** A bad environment value; the message names the variable (one line, no stack trace). */
public class SettingsException extends RuntimeException {
    public SettingsException(String message) {
        super(message);
    }
}
