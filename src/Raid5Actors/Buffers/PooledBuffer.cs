using System.Buffers;
using System.Diagnostics;

namespace Raid5Actors.Buffers;

/// <summary>
/// A byte buffer rented from the shared pool with exactly one owner at a time.
/// Telling a message that carries a <see cref="PooledBuffer"/> hands it over: the sender never
/// touches it again, and the last holder calls <see cref="Dispose"/>. Disjoint slices may be lent
/// to several actors at once (each slice has one user); the owner keeps the whole.
/// </summary>
public sealed class PooledBuffer : IDisposable
{
    private byte[]? _array;

    private PooledBuffer(byte[] array, int lengthBytes)
    {
        _array = array;
        LengthBytes = lengthBytes;
    }

    public int LengthBytes { get; }

    /// <summary>Rents a buffer of exactly <paramref name="lengthBytes"/> visible bytes (contents undefined).</summary>
    public static PooledBuffer Rent(int lengthBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lengthBytes);
        return new PooledBuffer(ArrayPool<byte>.Shared.Rent(Math.Max(lengthBytes, 1)), lengthBytes);
    }

    /// <summary>Rents a buffer and copies <paramref name="source"/> into it.</summary>
    public static PooledBuffer CopyOf(ReadOnlySpan<byte> source)
    {
        var buffer = Rent(source.Length);
        source.CopyTo(buffer.Span);
        return buffer;
    }

    public Memory<byte> Memory => new(Array, 0, LengthBytes);

    public Span<byte> Span => new(Array, 0, LengthBytes);

    private byte[] Array => _array ?? throw new ObjectDisposedException(nameof(PooledBuffer), "buffer used after it was returned to the pool");

    /// <summary>Returns the array to the pool. A second call is a bug in the caller's ownership.</summary>
    public void Dispose()
    {
        var array = Interlocked.Exchange(ref _array, null);
        Debug.Assert(array is not null, "PooledBuffer returned twice");
        if (array is not null)
            ArrayPool<byte>.Shared.Return(array);
    }
}
