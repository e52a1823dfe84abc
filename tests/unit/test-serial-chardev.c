/* A UART on chardevs: -serial none / chardev:ID / legacy specs, bytes both ways through a
 * real chardev (a file for output, a socket pair for input), upstream's error messages. */
#include "chardev/char.h"
#include "hw/char/serial-chardev.h"
#include "io-helpers.h"
#include "util/error.h"

#include <glib/gstdio.h>
#include <string.h>

static void test_none_and_missing(void)
{
    IoSpace *io = io_space_new("io", 0x10000);
    SerialState *s = serial_new(NULL);
    serial_register_ports(s, io, 0x3f8, NULL);
    GError *err = NULL;
    g_assert_null(serial_chardev_from_arg(s, 0, "none", &err));
    g_assert_no_error(err);
    outb(io, 0x3f8, 'x');
    SerialStats st;
    serial_get_stats(s, &st);
    g_assert_cmpuint(st.tx_dropped, ==, 1);
    g_assert_null(serial_chardev_from_arg(s, 0, "chardev:nope", &err));
    g_assert_cmpstr(err->message, ==,
                    "could not connect serial device to character backend 'chardev:nope'");
    g_clear_error(&err);
    serial_free(s);
    io_space_free(io);
}

static void test_file_output(void)
{
    g_autofree char *dir = g_dir_make_tmp(NULL, NULL);
    g_autofree char *path = g_build_filename(dir, "console.log", NULL);
    g_autofree char *spec = g_strdup_printf("file:%s", path);
    IoSpace *io = io_space_new("io", 0x10000);
    SerialState *s = serial_new(NULL);
    serial_register_ports(s, io, 0x3f8, NULL);
    GError *err = NULL;
    SerialChardev *sc = serial_chardev_from_arg(s, 0, spec, &err);
    g_assert_no_error(err);
    g_assert_nonnull(sc);
    Chardev *chr = chardev_find("serial0");
    g_assert_nonnull(chr);
    g_assert_true(chardev_is_busy(chr));
    const char *msg = "Linux version 6.1.0\r\n";
    for (const char *p = msg; *p; p++) {
        outb(io, 0x3f8, *p);
    }
    serial_chardev_disconnect(sc);
    g_assert_false(chardev_is_busy(chr));
    g_assert_true(chardev_remove("serial0", NULL));
    g_autofree char *content = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &content, &len, NULL));
    g_assert_cmpmem(content, len, msg, strlen(msg));
    serial_free(s);
    io_space_free(io);
    g_unlink(path);
    g_rmdir(dir);
}

static void test_socket_input(void)
{
    /* a unix server chardev; the test connects as the user typing on the console */
    g_autofree char *dir = g_dir_make_tmp(NULL, NULL);
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off", path);
    IoSpace *io = io_space_new("io", 0x10000);
    SerialState *s = serial_new(NULL);
    serial_register_ports(s, io, 0x3f8, NULL);
    outb(io, 0x3fa, 0x01); /* FIFO on */
    GError *err = NULL;
    SerialChardev *sc = serial_chardev_from_arg(s, 1, spec, &err);
    g_assert_no_error(err);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GSocketConnection) conn =
        g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &err);
    g_assert_no_error(err);
    GOutputStream *os = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    g_assert_true(g_output_stream_write_all(os, "ls\n", 3, NULL, NULL, &err));
    /* the chardev reads on the main context */
    gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    while (serial_can_receive(s) > 13 && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmphex(inb(io, 0x3fd) & 1, ==, 1);
    g_assert_cmpint(inb(io, 0x3f8), ==, 'l');
    g_assert_cmpint(inb(io, 0x3f8), ==, 's');
    g_assert_cmpint(inb(io, 0x3f8), ==, '\n');
    serial_chardev_disconnect(sc);
    g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
    g_assert_true(chardev_remove("serial1", NULL));
    serial_free(s);
    io_space_free(io);
    g_unlink(path);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    chardev_register_types();
    g_test_add_func("/serial-chardev/none-and-missing", test_none_and_missing);
    g_test_add_func("/serial-chardev/file-output", test_file_output);
    g_test_add_func("/serial-chardev/socket-input", test_socket_input);
    return g_test_run();
}
