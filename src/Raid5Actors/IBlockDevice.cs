namespace Raid5Actors;

/// <summary>
/// A logical block device as a server or a tool sees it: a capacity, reads, writes and flushes.
/// <see cref="Raid5Array"/> is the writable one; a Linux md array read from its member images
/// (the CLI's <c>serve --md</c>) is read-only. Offsets and lengths are bytes, in multiples of 512.
/// </summary>
public interface IBlockDevice
{
    long CapacityBytes { get; }

    /// <summary>True when <see cref="WriteAsync"/> always refuses (with <see cref="NotSupportedException"/>).</summary>
    bool IsReadOnly { get; }

    Task ReadAsync(long offsetBytes, Memory<byte> destination, CancellationToken cancellationToken = default);

    /// <summary>Writes <paramref name="source"/>; the caller may reuse it once this returns. With <paramref name="fua"/>, durable on return.</summary>
    Task WriteAsync(long offsetBytes, ReadOnlyMemory<byte> source, bool fua = false, CancellationToken cancellationToken = default);

    /// <summary>Makes every write that completed before this call durable.</summary>
    Task FlushAsync(CancellationToken cancellationToken = default);
}
