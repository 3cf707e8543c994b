#include <pcap/pcap.h>
#include <stdio.h>
#include <sys/types.h>

/* glibc's fopencookie (a GNU extension the Swift Glibc module does not export), declared
 * under our own name with glibc's exact cookie_io_functions_t layout: Capture writes pcap
 * data through a stdio stream whose bytes go to a background writer thread. */
typedef ssize_t (*podwire_cookie_write_t)(void *cookie, const char *buf, size_t size);
typedef struct {
    void *read;
    podwire_cookie_write_t write;
    void *seek;
    void *close;
} podwire_cookie_io_functions_t;
FILE *podwire_fopencookie(void *cookie, const char *mode, podwire_cookie_io_functions_t io)
    __asm__("fopencookie");
