#include <pcap/pcap.h>
#include <stdio.h>
#include <stdint.h>
#include <stdio_ext.h>
#include <sys/types.h>

/* glibc's fopencookie (a GNU extension the Swift Glibc module does not export), declared
 * under our own name with glibc's exact cookie_io_functions_t layout: Capture writes pcap
 * data through a stdio stream whose bytes go to a background writer thread. */
typedef ssize_t (*podwire_cookie_write_t)(void *cookie, const char *buf, size_t size);
typedef int (*podwire_cookie_seek_t)(void *cookie, int64_t *offset, int whence);
typedef struct {
    void *read;
    podwire_cookie_write_t write;
    podwire_cookie_seek_t seek;
    void *close;
} podwire_cookie_io_functions_t;
FILE *podwire_fopencookie(void *cookie, const char *mode, podwire_cookie_io_functions_t io)
    __asm__("fopencookie");

/* __fsetlocking(stream, FSETLOCKING_BYCALLER) from <stdio_ext.h>, under our own name: each
 * capture stream is used by one thread at a time, so pcap_dump's ferror and fwrite calls
 * need not take the stream's lock. */
static inline void podwire_stdio_lock_by_caller(FILE *stream) {
    (void)__fsetlocking(stream, FSETLOCKING_BYCALLER);
}

/* __fpending: bytes waiting in the stream's buffer. */
static inline size_t podwire_stdio_pending(FILE *stream) {
    return __fpending(stream);
}
