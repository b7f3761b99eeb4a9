using System.Net.Sockets;
using System.Text;
using static System.Buffers.Binary.BinaryPrimitives;
using static Raid5Actors.Nbd.NbdProtocol;

namespace Raid5Actors.Nbd;

/// <summary>
/// A reply on its way to the socket. A READ reply owns <see cref="Payload"/> and its
/// <see cref="PayloadBytes"/> budget bytes; every reply owns its request's slot.
/// </summary>
internal readonly record struct NbdReply(ulong Handle, NbdCommand Command, NbdError Error, string? Message, byte[]? Payload, int PayloadBytes, long OffsetBytes);

// Transmission, sending side: the writer is the only sender once transmission starts. It takes
// replies in completion order, packs small ones into one send, and writes large payloads straight
// from their buffers. If the socket fails it keeps taking replies, only to release what they hold.
internal sealed partial class NbdConnection
{
    private const int kStagingBytes = 256 << 10;
    private const int kInlinePayloadBytes = 64 << 10;
    private const int kMaxMessageChars = 200;

    private async Task WriteRepliesAsync()
    {
        var staging = new byte[kStagingBytes];
        var stagedBytes = 0;
        var broken = false;
        var replies = _replies.Reader;
        while (await replies.WaitToReadAsync().ConfigureAwait(false))
        {
            while (replies.TryRead(out var reply))
            {
                try
                {
                    if (!broken)
                        stagedBytes = await SendAsync(reply, staging, stagedBytes).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                    broken = WriterBroke(e);
                }
                finally
                {
                    Finish(reply);
                }
            }
            // Nothing more queued right now: send the batch.
            if (!broken && stagedBytes > 0)
            {
                try
                {
                    await _stream.WriteAsync(staging.AsMemory(0, stagedBytes)).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                    broken = WriterBroke(e);
                }
                stagedBytes = 0;
            }
        }
    }

    private bool WriterBroke(Exception e)
    {
        _log.Information("NBD client can no longer be sent to: {Reason}; its pending replies are dropped", e.Message);
        Abort();
        return true;
    }

    /// <summary>Encodes <paramref name="reply"/> after the <paramref name="stagedBytes"/> already staged; returns how many are staged now.</summary>
    private async ValueTask<int> SendAsync(NbdReply reply, byte[] staging, int stagedBytes)
    {
        var payload = reply.Error == NbdError.None && reply.Payload is not null ? reply.Payload.AsMemory(0, reply.PayloadBytes) : Memory<byte>.Empty;
        var inline = payload.Length <= kInlinePayloadBytes;
        // A header with an error message is at most a few hundred bytes; reserve generously.
        var needed = 64 + 4 * kMaxMessageChars + (inline ? payload.Length : 0);
        if (stagedBytes + needed > staging.Length)
        {
            await _stream.WriteAsync(staging.AsMemory(0, stagedBytes)).ConfigureAwait(false);
            stagedBytes = 0;
        }
        stagedBytes += EncodeHeader(reply, payload.Length, staging.AsSpan(stagedBytes));
        if (inline)
        {
            payload.Span.CopyTo(staging.AsSpan(stagedBytes));
            return stagedBytes + payload.Length;
        }
        await _stream.WriteAsync(staging.AsMemory(0, stagedBytes)).ConfigureAwait(false);
        await _stream.WriteAsync(payload).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Writes everything of the reply but the payload; returns its length.</summary>
    private int EncodeHeader(NbdReply reply, int payloadBytes, Span<byte> destination)
    {
        if (_structuredReplies && (reply.Error != NbdError.None || reply.Command == NbdCommand.Read))
            return EncodeChunk(reply, payloadBytes, destination);
        // Simple reply: also the success of everything but READ once structured replies are on.
        WriteUInt32BigEndian(destination, kSimpleReplyMagic);
        WriteUInt32BigEndian(destination[4..], (uint)reply.Error);
        WriteUInt64BigEndian(destination[8..], reply.Handle);
        return kSimpleReplyBytes;
    }

    /// <summary>One structured chunk, always the last of its reply: the data of a READ, an empty chunk, or an error with its message.</summary>
    private static int EncodeChunk(NbdReply reply, int payloadBytes, Span<byte> destination)
    {
        WriteUInt32BigEndian(destination, kStructuredReplyMagic);
        WriteUInt16BigEndian(destination[4..], kReplyFlagDone);
        WriteUInt64BigEndian(destination[8..], reply.Handle);
        var body = destination[kStructuredReplyBytes..];
        ushort type;
        int bodyBytes;
        if (reply.Error != NbdError.None)
        {
            type = kChunkError;
            var message = reply.Message ?? "";
            if (message.Length > kMaxMessageChars)
                message = message[..kMaxMessageChars];
            var messageBytes = Encoding.UTF8.GetBytes(message, body[6..]);
            WriteUInt32BigEndian(body, (uint)reply.Error);
            WriteUInt16BigEndian(body[4..], (ushort)messageBytes);
            bodyBytes = 6 + messageBytes;
        }
        else if (payloadBytes > 0)
        {
            // The payload that follows is part of this chunk.
            type = kChunkOffsetData;
            WriteUInt64BigEndian(body, (ulong)reply.OffsetBytes);
            bodyBytes = 8;
        }
        else
        {
            type = kChunkNone;
            bodyBytes = 0;
        }
        WriteUInt16BigEndian(destination[6..], type);
        WriteUInt32BigEndian(destination[16..], (uint)(bodyBytes + payloadBytes));
        return kStructuredReplyBytes + bodyBytes;
    }

    /// <summary>The reply is sent or dropped: gives back its payload, budget bytes and slot.</summary>
    private void Finish(NbdReply reply)
    {
        if (reply.Payload is { } payload)
            ReturnPayload(payload, reply.PayloadBytes);
        Interlocked.Decrement(ref _counters.RequestsInFlight);
        Interlocked.Increment(ref _counters.RequestsServed);
        _slots.Release();
    }
}
