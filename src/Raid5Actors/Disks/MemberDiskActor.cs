using Debug = System.Diagnostics.Debug;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using static Raid5Actors.Disks.MemberDiskProtocol;

namespace Raid5Actors.Disks;

/// <summary>
/// One per member disk. Owns that member's <see cref="IMemberStore"/> (and disposes it when it
/// stops) and performs its I/O one request at a time, in arrival order, on a dedicated dispatcher
/// so blocking I/O never stalls the default dispatcher. Guarantees: a reply is sent only after the
/// store call returned, so an acknowledged write is visible to every later read; errors come back
/// as <see cref="IoFailed"/>, never swallowed.
/// </summary>
public sealed class MemberDiskActor : UntypedActor
{
    private readonly MemberRole _role;
    private readonly IMemberStore _store;
    private readonly long _dataOffsetBytes;
    private readonly long _dataBytes;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    /// <summary>The role a device holds, kept across restarts of its actor (one incarnation at a time uses it).</summary>
    public sealed class MemberRole(int role)
    {
        public int Value { get; set; } = role;

        public static implicit operator int(MemberRole role) => role.Value;
    }

    public MemberDiskActor(MemberRole role, IMemberStore store, long dataOffsetBytes, long dataBytes)
    {
        _role = role;
        _store = store;
        _dataOffsetBytes = dataOffsetBytes;
        _dataBytes = dataBytes;
    }

    public static Props Props(int role, IMemberStore store, long dataOffsetBytes, long dataBytes, string dispatcherId) =>
        Props(new MemberRole(role), store, dataOffsetBytes, dataBytes, dispatcherId);

    public static Props Props(MemberRole role, IMemberStore store, long dataOffsetBytes, long dataBytes, string dispatcherId) =>
        Akka.Actor.Props.Create(() => new MemberDiskActor(role, store, dataOffsetBytes, dataBytes)).WithDispatcher(dispatcherId);

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case ReadBlock read:
                CheckRange(read.MemberOffsetBytes, read.Destination.Length);
                Perform(read.Tag, IoKind.Read, () => _store.Read(_dataOffsetBytes + read.MemberOffsetBytes, read.Destination.Span));
                break;
            case WriteBlock write:
                CheckRange(write.MemberOffsetBytes, write.Source.Length);
                Perform(write.Tag, IoKind.Write, () => _store.Write(_dataOffsetBytes + write.MemberOffsetBytes, write.Source.Span));
                break;
            case AssignRole assign:
                _role.Value = assign.Role;
                break;
            case FlushMember flush:
                Perform(flush.Tag, IoKind.Flush, _store.Flush);
                break;
            case WriteSuperblock superblock:
                Debug.Assert(superblock.Superblock.Role == _role.Value, "superblock for another role");
                Perform(superblock.Tag, IoKind.Superblock, () =>
                {
                    superblock.Superblock.WriteTo(_store);
                    _store.Flush();
                });
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    protected override void PostStop() => _store.Dispose();

    // Restarted by the array's supervisor: answer the request that broke us, so nobody waits forever.
    // The store stays open across the restart (a new instance gets the same one), so keep it here.
    protected override void PreRestart(Exception reason, object message)
    {
        var failed = message switch
        {
            ReadBlock r => new IoFailed(r.Tag, _role, IoKind.Read, reason.Message),
            WriteBlock w => new IoFailed(w.Tag, _role, IoKind.Write, reason.Message),
            FlushMember f => new IoFailed(f.Tag, _role, IoKind.Flush, reason.Message),
            WriteSuperblock s => new IoFailed(s.Tag, _role, IoKind.Superblock, reason.Message),
            _ => null,
        };
        if (failed is not null)
            Sender.Tell(failed);
    }

    private void Perform(long tag, IoKind kind, Action io)
    {
        try
        {
            io();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            _log.Warning("member {0} ({1}): {2} failed: {3}", _role.Value, _store.Name, kind, e.Message);
            Sender.Tell(new IoFailed(tag, _role, kind, e.Message));
            return;
        }
        Sender.Tell(new IoCompleted(tag, _role, kind));
    }

    // Offsets come from geometry code: a request outside the data area is a bug, not bad input.
    private void CheckRange(long offsetBytes, int lengthBytes)
    {
        if (offsetBytes < 0 || offsetBytes + lengthBytes > _dataBytes)
            throw new InvalidOperationException(
                $"member {_role.Value}: I/O [{offsetBytes}, {offsetBytes + lengthBytes}) outside the data area of {_dataBytes} bytes");
    }
}
