namespace Raid5Actors.Nbd;

/// <summary>
/// The receiving side of one connection: reads exact byte counts through a small buffer, so that
/// a burst of pipelined 28-byte request headers costs one receive call, not one each. Payloads
/// larger than the buffer go straight into their destination. One reader at a time.
/// </summary>
internal sealed class NbdInput(Stream stream, int bufferBytes = 64 << 10)
{
    private readonly byte[] _buffer = new byte[bufferBytes];
    private int _start;
    private int _end;

    /// <summary>
    /// Fills <paramref name="destination"/>. Returns false when the peer closed the connection
    /// before sending its first byte; throws <see cref="EndOfStreamException"/> when it closed midway.
    /// </summary>
    public async ValueTask<bool> ReadExactlyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        var atStart = true;
        while (!destination.IsEmpty)
        {
            if (_start == _end)
            {
                if (destination.Length >= _buffer.Length)
                {
                    var direct = await stream.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
                    if (direct == 0)
                        return atStart ? false : throw new EndOfStreamException("the client closed the connection in the middle of a message");
                    destination = destination[direct..];
                    atStart = false;
                    continue;
                }
                _start = 0;
                _end = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                if (_end == 0)
                    return atStart ? false : throw new EndOfStreamException("the client closed the connection in the middle of a message");
            }
            var count = Math.Min(destination.Length, _end - _start);
            _buffer.AsSpan(_start, count).CopyTo(destination.Span);
            _start += count;
            destination = destination[count..];
            atStart = false;
        }
        return true;
    }

    /// <summary>Fills <paramref name="destination"/>; the connection closing at any point is an <see cref="EndOfStreamException"/>.</summary>
    public async ValueTask ReadRequiredAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (!await ReadExactlyAsync(destination, cancellationToken).ConfigureAwait(false) && !destination.IsEmpty)
            throw new EndOfStreamException("the client closed the connection in the middle of a message");
    }

    /// <summary>Reads and drops <paramref name="bytes"/> bytes (a payload the server refuses but must step over).</summary>
    public async ValueTask SkipAsync(long bytes, CancellationToken cancellationToken)
    {
        while (bytes > 0)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                if (_end == 0)
                    throw new EndOfStreamException("the client closed the connection in the middle of a message");
            }
            var count = (int)Math.Min(bytes, _end - _start);
            _start += count;
            bytes -= count;
        }
    }
}
