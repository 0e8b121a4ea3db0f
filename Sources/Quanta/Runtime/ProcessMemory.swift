import QuantaKernels

/// How the engines' process allocates: every layer returns a new matrix (up to 25 MB for MiniLM's batch), so
/// the C allocator's policy for large blocks decides whether each forward pass re-faults its pages.
public enum ProcessMemory {
    /// Keeps freed buffers for reuse instead of returning them to the kernel (`qk_keep_freed_memory`; glibc
    /// only, a no-op elsewhere). The CLI calls it once at start; library users running models call it
    /// themselves. Returns whether the setting took effect.
    @discardableResult
    public static func keepFreedBuffers() -> Bool { qk_keep_freed_memory() == 1 }
}
