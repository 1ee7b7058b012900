// Linked into the test only under ThreadSanitizer. librdkafka 2.0.2 on Debian 12
// uses glibc's C11 threads (thrd_create, mtx_lock, cnd_wait, ...), which GCC 12's
// TSan runtime does not intercept: a thread started by thrd_create has no TSan
// state and crashes at its first intercepted call, and locks taken through
// mtx_lock are invisible, so every hand-over through librdkafka's queues would
// look like a race. Defining these functions in the executable interposes them
// for librdkafka.so, and implementing them with the pthread calls TSan does
// intercept makes librdkafka's threads and synchronisation visible to it.
//
// librdkafka's own atomics (reference counts, flags) stay invisible, as its code
// is not instrumented; the interceptors it calls itself (free, pthread_rwlock_*)
// would then report races inside librdkafka. Those are ignored; our own code,
// including the delivery callback librdkafka calls, stays checked.

#include <errno.h>
#include <pthread.h>
#include <threads.h>

#include <cstdint>
#include <new>

namespace {

int to_c11(int pthread_result) {
    switch (pthread_result) {
        case 0:
            return thrd_success;
        case ETIMEDOUT:
            return thrd_timedout;
        case EBUSY:
            return thrd_busy;
        case ENOMEM:
            return thrd_nomem;
        default:
            return thrd_error;
    }
}

pthread_mutex_t* native(mtx_t* mutex) { return reinterpret_cast<pthread_mutex_t*>(mutex); }
pthread_cond_t* native(cnd_t* cond) { return reinterpret_cast<pthread_cond_t*>(cond); }

static_assert(sizeof(mtx_t) >= sizeof(pthread_mutex_t));
static_assert(sizeof(cnd_t) >= sizeof(pthread_cond_t));

struct start {
    thrd_start_t function;
    void* argument;
};

void* run(void* opaque) {
    start s = *static_cast<start*>(opaque);
    delete static_cast<start*>(opaque);
    return reinterpret_cast<void*>(static_cast<std::intptr_t>(s.function(s.argument)));
}

}  // namespace

extern "C" {

// The second line: a librdkafka mutex is made by one of its threads and
// reached by another through librdkafka's own (invisible) hand-over, so its
// first lock through the mtx_lock below looks like a race with its init.
// Only librdkafka calls mtx_lock, on its own objects.
const char* __tsan_default_suppressions() {
    return "called_from_lib:librdkafka.so.1\nrace:mtx_lock\n";
}

int thrd_create(thrd_t* thread, thrd_start_t function, void* argument) {
    auto* s = new (std::nothrow) start{function, argument};
    if (s == nullptr) return thrd_nomem;
    int result = pthread_create(thread, nullptr, run, s);
    if (result != 0) delete s;
    return to_c11(result);
}

int thrd_join(thrd_t thread, int* result) {
    void* value = nullptr;
    int error = pthread_join(thread, &value);
    if (error == 0 && result != nullptr) {
        *result = static_cast<int>(reinterpret_cast<std::intptr_t>(value));
    }
    return to_c11(error);
}

int mtx_init(mtx_t* mutex, int type) {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    if ((type & mtx_recursive) != 0) {
        pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
    }
    int result = pthread_mutex_init(native(mutex), &attributes);
    pthread_mutexattr_destroy(&attributes);
    return to_c11(result);
}

int mtx_lock(mtx_t* mutex) { return to_c11(pthread_mutex_lock(native(mutex))); }
int mtx_trylock(mtx_t* mutex) { return to_c11(pthread_mutex_trylock(native(mutex))); }
int mtx_unlock(mtx_t* mutex) { return to_c11(pthread_mutex_unlock(native(mutex))); }
void mtx_destroy(mtx_t* mutex) { pthread_mutex_destroy(native(mutex)); }

int cnd_init(cnd_t* cond) { return to_c11(pthread_cond_init(native(cond), nullptr)); }
int cnd_signal(cnd_t* cond) { return to_c11(pthread_cond_signal(native(cond))); }
int cnd_broadcast(cnd_t* cond) { return to_c11(pthread_cond_broadcast(native(cond))); }
int cnd_wait(cnd_t* cond, mtx_t* mutex) {
    return to_c11(pthread_cond_wait(native(cond), native(mutex)));
}
int cnd_timedwait(cnd_t* cond, mtx_t* mutex, const struct timespec* until) {
    return to_c11(pthread_cond_timedwait(native(cond), native(mutex), until));
}
void cnd_destroy(cnd_t* cond) { pthread_cond_destroy(native(cond)); }

}  // extern "C"
