// Each hung card holds one libuv thread until it answers (pcsclite calls block), so entry
// points import this first to give the pool room before any native call is made.
process.env['UV_THREADPOOL_SIZE'] ??= '16';
export {};
