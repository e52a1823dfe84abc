/* A UART on a chardev (include/hw/char/serial-chardev.h). */
#include "hw/char/serial-chardev.h"
#include "util/error.h"

#include <string.h>

struct SerialChardev {
    SerialState *serial;
    CharFrontend *fe;
};

static int can_read(void *opaque)
{
    SerialChardev *sc = opaque;
    return serial_can_receive(sc->serial);
}

static void do_read(void *opaque, const guint8 *buf, int size)
{
    SerialChardev *sc = opaque;
    serial_receive(sc->serial, buf, size);
}

static void be_write(void *opaque, const uint8_t *buf, int len)
{
    SerialChardev *sc = opaque;
    /* a disconnected socket drops the byte; the chardev counts it as a write error */
    char_fe_write_all(sc->fe, buf, len);
}

static void be_accept_input(void *opaque)
{
    SerialChardev *sc = opaque;
    char_fe_accept_input(sc->fe);
}

SerialChardev *serial_chardev_connect(SerialState *s, Chardev *chr, GError **errp)
{
    CharFrontend *fe = char_fe_new(chr, errp);
    if (!fe) {
        return NULL;
    }
    SerialChardev *sc = g_new0(SerialChardev, 1);
    sc->serial = s;
    sc->fe = fe;
    SerialBackend be = {.write = be_write, .accept_input = be_accept_input, .opaque = sc};
    serial_set_backend(s, &be);
    char_fe_set_handlers(fe, can_read, do_read, NULL, sc, NULL);
    return sc;
}

void serial_chardev_disconnect(SerialChardev *sc)
{
    if (!sc) {
        return;
    }
    serial_set_backend(sc->serial, NULL);
    char_fe_free(sc->fe);
    g_free(sc);
}

SerialChardev *serial_chardev_from_arg(SerialState *s, int index, const char *arg, GError **errp)
{
    if (!strcmp(arg, "none")) {
        serial_set_backend(s, NULL);
        return NULL;
    }
    Chardev *chr;
    if (g_str_has_prefix(arg, "chardev:")) {
        chr = chardev_find(arg + strlen("chardev:"));
    } else {
        g_autofree char *label = g_strdup_printf("serial%d", index);
        GError *err = NULL;
        chr = chardev_new_from_legacy(label, arg, &err);
        if (!chr) {
            /* upstream reports the chardev's own error first, then the connection failure */
            error_report_err(err);
        }
    }
    if (!chr) {
        error_setg(errp, "could not connect serial device to character backend '%s'", arg);
        return NULL;
    }
    return serial_chardev_connect(s, chr, errp);
}
