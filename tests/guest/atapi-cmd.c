/*
 * qc-atapi DEVICE CDB-HEX ALLOC: sends one SCSI/MMC command that reads up to ALLOC bytes to
 * DEVICE (/dev/sr0) through SG_IO, which libata passes to the ATAPI drive as it is, and prints
 * what came back on one line:
 *   status=S sense=KEY/ASC/ASCQ len=N data=HEX
 * so that a test can compare a drive's answers under two machine monitors byte for byte.
 */
#include <fcntl.h>
#include <scsi/sg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: qc-atapi DEVICE CDB-HEX ALLOC\n");
        return 2;
    }
    unsigned char cdb[16];
    size_t cdb_len = strlen(argv[2]) / 2;
    if (cdb_len < 6 || cdb_len > sizeof(cdb)) {
        fprintf(stderr, "qc-atapi: a CDB is 6 to 16 bytes\n");
        return 2;
    }
    for (size_t i = 0; i < cdb_len; i++) {
        unsigned v;
        if (sscanf(argv[2] + 2 * i, "%2x", &v) != 1) {
            fprintf(stderr, "qc-atapi: bad hex\n");
            return 2;
        }
        cdb[i] = v;
    }
    unsigned alloc = strtoul(argv[3], NULL, 0);
    unsigned char *data = calloc(1, alloc ? alloc : 1);
    unsigned char sense[32] = {0};
    int fd = open(argv[1], O_RDONLY | O_NONBLOCK);
    if (fd < 0 || !data) {
        perror("qc-atapi");
        return 1;
    }
    sg_io_hdr_t io = {
        .interface_id = 'S',
        .dxfer_direction = alloc ? SG_DXFER_FROM_DEV : SG_DXFER_NONE,
        .cmd_len = cdb_len,
        .mx_sb_len = sizeof(sense),
        .dxfer_len = alloc,
        .dxferp = data,
        .cmdp = cdb,
        .sbp = sense,
        .timeout = 20000,
    };
    if (ioctl(fd, SG_IO, &io) < 0) {
        perror("qc-atapi: SG_IO");
        return 1;
    }
    unsigned len = alloc - io.resid;
    printf("status=%d sense=%02x/%02x/%02x len=%u data=", io.status,
           io.sb_len_wr ? sense[2] & 0x0f : 0, io.sb_len_wr ? sense[12] : 0,
           io.sb_len_wr ? sense[13] : 0, len);
    for (unsigned i = 0; i < len && i < alloc; i++) {
        printf("%02x", data[i]);
    }
    printf("\n");
    return 0;
}
