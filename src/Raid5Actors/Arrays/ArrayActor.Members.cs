using Akka.Actor;
using Akka.Event;
using Raid5Actors.Disks;
using Raid5Actors.Stripes;
using Raid5Actors.Sync;
using static Raid5Actors.Arrays.ArrayProtocol;
using static Raid5Actors.Disks.MemberDiskProtocol;

namespace Raid5Actors.Arrays;

/// <summary>
/// Membership: the disk actor of every device, the view of the members each piece of work is sent
/// with, failures, and the operator's fail / remove / add.
/// </summary>
public sealed partial class ArrayActor
{
    private const long kSuperblockTag = -1;

    private readonly Dictionary<int, IActorRef> _deviceActors = [];
    private readonly Dictionary<IActorRef, int> _deviceOfActor = [];
    private IActorRef[] _roleActors = [];
    private int _missingMask;
    private MemberView _view = null!;
    private int _deviceGeneration;

    private void StartDevice(int device, int? role = null)
    {
        var member = _devices[device];
        var actor = Context.ActorOf(
            MemberDiskActor.Props(role ?? RoleOfDevice(device), member.Store, _metadata.DataOffsetBytes, _metadata.MemberDataBytes, Configuration.Raid5Settings.kMemberDispatcherId),
            $"member-{device}-{++_deviceGeneration}"); // unique: a re-added device may follow its stopped actor at once
        Context.Watch(actor);
        _deviceActors[device] = actor;
        _deviceOfActor[actor] = device;
    }

    private int RoleOfDevice(int device) => _metadata.Slots.FirstOrDefault(s => s.Device == device && s.State != MemberState.Faulty)?.Role ?? -1;

    private void StopDevice(int device)
    {
        if (!_deviceActors.Remove(device, out var actor))
            return;
        _deviceOfActor.Remove(actor);
        FailDirectIoOf(actor);
        Context.Unwatch(actor);
        Context.Stop(actor); // its PostStop closes the store
        _devices.Remove(device);
    }

    /// <summary>Recomputes which actor serves each role and which roles hold no data at all.</summary>
    private void RebuildViews()
    {
        _roleActors = _metadata.Slots
            .Select(s => s.State != MemberState.Faulty && _deviceActors.TryGetValue(s.Device, out var a) ? a : ActorRefs.Nobody)
            .ToArray();
        _missingMask = 0;
        foreach (var slot in _metadata.Slots.Where(s => s.State == MemberState.Faulty))
            _missingMask |= 1 << slot.Role;
        _view = new MemberView(_roleActors, _missingMask);
    }

    /// <summary>The members work on <paramref name="row"/> may use: a role being rebuilt counts only where the rebuild has reached.</summary>
    private MemberView ViewFor(long row) =>
        _rebuild is { } rebuild && !rebuild.Writable(row) ? _view with { MissingMask = _missingMask | (1 << rebuild.Role) } : _view;

    /// <summary>Whether a read of <paramref name="role"/>'s chunk in <paramref name="row"/> may go straight to the disk.</summary>
    private bool ReadableDirect(int role, long row) =>
        (_missingMask & (1 << role)) == 0 && (_rebuild is not { } rebuild || rebuild.Role != role || rebuild.Readable(row));

    /// <param name="byOperator">Asked for (mdadm --fail): worth a warning, not an error.</param>
    private void OnMemberFailed(int role, string reason, bool byOperator = false)
    {
        if (role < 0 || role >= _metadata.MemberCount || _metadata.Slots[role].State == MemberState.Faulty)
            return;
        if (byOperator)
            _log.Warning("member {0} ({1}) failed: {2}", role, DeviceName(_metadata.Slots[role].Device), reason);
        else
            _log.Error("member {0} ({1}) failed: {2}", role, DeviceName(_metadata.Slots[role].Device), reason);
        if (_rebuild?.Role == role)
            AbortSync($"the member being rebuilt failed: {reason}");
        var failed = _metadata.WithSlot(_metadata.Slots[role] with { State = MemberState.Faulty, RebuiltRows = 0, FromBitmap = false }).Bumped();
        Record(failed, () =>
        {
            RebuildViews();
            WriteSuperblocks();
            if (_metadata.Failed)
            {
                var missing = string.Join(" and ", _metadata.Slots.Where(s => s.State != MemberState.InSync).Select(s => s.Role));
                _writesRefused = $"the array has failed: members {missing} are missing; it takes no writes (reads of surviving data still work)";
                _log.Error(_writesRefused);
            }
            MaybeStartRecovery();
        });
    }

    private void OnFailMember(FailMember fail)
    {
        var requester = Sender;
        if (fail.Role < 0 || fail.Role >= _metadata.MemberCount)
        {
            requester.Tell(new RequestFailed(NoSuchRole(fail.Role)));
            return;
        }
        if (_metadata.Slots[fail.Role].State == MemberState.Faulty)
        {
            requester.Tell(new MembersChanged(_metadata, $"member {fail.Role} is already faulty"));
            return;
        }
        OnMemberFailed(fail.Role, "marked failed by the operator", byOperator: true);
        DeferAsync(fail, _ => requester.Tell(new MembersChanged(_metadata, $"member {fail.Role} marked faulty")));
    }

    private Raid5Exception NoSuchRole(int role) =>
        new($"role {role} does not exist: the array has roles 0 to {_metadata.MemberCount - 1}");

    private void OnRemoveMember(RemoveMember remove)
    {
        var requester = Sender;
        if (remove.Role < 0 || remove.Role >= _metadata.MemberCount)
        {
            requester.Tell(new RequestFailed(NoSuchRole(remove.Role)));
            return;
        }
        var slot = _metadata.Slots[remove.Role];
        if (slot.State != MemberState.Faulty)
        {
            requester.Tell(new RequestFailed(new Raid5Exception($"member {remove.Role} is {StateName(slot)}: only a faulty member can be removed (fail it first)")));
            return;
        }
        var device = slot.Device;
        Record(_metadata.WithSlot(slot with { Device = -1 }), () =>
        {
            if (device >= 0)
                StopDevice(device);
            requester.Tell(new MembersChanged(_metadata, $"member {remove.Role} removed"));
        });
    }

    private void OnAddMember(AddMember add)
    {
        var requester = Sender;
        var device = add.Device;
        var required = _metadata.DataOffsetBytes + _metadata.MemberDataBytes;
        string? refusal = null;
        if (_deviceActors.ContainsKey(device.Device) || _metadata.Slots.Any(s => s.Device == device.Device))
            refusal = $"device {device.Store.Name} is already part of the array";
        else if (device.Store.LengthBytes < required)
            refusal = $"device {device.Store.Name} is {device.Store.LengthBytes} bytes but the array needs {required} bytes on every member";
        else if (device.Superblock is { } foreign && foreign.ArrayId != _metadata.ArrayId)
            refusal = $"device {device.Store.Name} belongs to array {foreign.ArrayId}; refusing to overwrite it";
        if (refusal is not null)
        {
            device.Store.Dispose();
            requester.Tell(new RequestFailed(new Raid5Exception(refusal)));
            return;
        }
        _devices[device.Device] = device;
        if (CanReAdd(device.Superblock, device.Device) is { } role)
        {
            var slot = _metadata.Slots[role] with { Device = device.Device, State = MemberState.Rebuilding, RebuiltRows = 0, FromBitmap = true };
            Record(_metadata.WithSlot(slot).Bumped(), () =>
            {
                StartDevice(device.Device, role);
                RebuildViews();
                WriteSuperblocks();
                requester.Tell(new MembersChanged(_metadata, $"member {role} re-added: only the regions written while it was away are rebuilt"));
                StartRecovery(role);
            });
            return;
        }
        Record(_metadata with { Spares = [.. _metadata.Spares, device.Device] }, () =>
        {
            StartDevice(device.Device, role: -1);
            WriteSuperblocks();
            requester.Tell(new MembersChanged(_metadata, $"{device.Store.Name} added as a spare"));
            MaybeStartRecovery();
        });
    }

    /// <summary>
    /// A member that left can come back with a bitmap-based rebuild when it still holds its role's
    /// superblock and its event count is not older than the last time the array became whole:
    /// every write it missed then still has its bit set (I2).
    /// </summary>
    private int? CanReAdd(MemberSuperblock? superblock, int device)
    {
        if (superblock is not { Role: >= 0 } sb || sb.ArrayId != _metadata.ArrayId || sb.Role >= _metadata.MemberCount || _bitmap is null)
            return null;
        var slot = _metadata.Slots[sb.Role];
        var sameDevice = slot.Device == device || slot.Device < 0;
        return slot.State == MemberState.Faulty && sameDevice && sb.Events >= _metadata.EventsCleared && _rebuild is null
            ? sb.Role
            : null;
    }

    /// <summary>Starts recovery onto a spare when a role is faulty and no other pass runs.</summary>
    private void MaybeStartRecovery()
    {
        if (_sync is not null || _state != State.Running || _metadata.Failed || _metadata.Spares.Count == 0)
            return;
        var faulty = _metadata.Slots.FirstOrDefault(s => s.State == MemberState.Faulty);
        if (faulty is null)
            return;
        var spare = _metadata.Spares[0];
        var oldDevice = faulty.Device;
        var slot = faulty with { Device = spare, State = MemberState.Rebuilding, RebuiltRows = 0, FromBitmap = false };
        Record(_metadata.WithSlot(slot).Bumped() with { Spares = _metadata.Spares.Skip(1).ToArray() }, () =>
        {
            if (oldDevice >= 0)
                StopDevice(oldDevice);
            _deviceActors[spare].Tell(new AssignRole(slot.Role));
            RebuildViews();
            WriteSuperblocks();
            _log.Info("recovery of member {0} onto spare {1} started", slot.Role, DeviceName(spare));
            StartRecovery(slot.Role);
        });
    }

    /// <summary>Writes the current event count to every device still in the array (md's sync_sbs).</summary>
    private void WriteSuperblocks()
    {
        foreach (var slot in _metadata.Slots.Where(s => s.State != MemberState.Faulty))
        {
            if (_deviceActors.TryGetValue(slot.Device, out var actor))
                actor.Tell(new WriteSuperblock(kSuperblockTag, _metadata.SuperblockFor(slot.Role)));
        }
        foreach (var spare in _metadata.Spares)
        {
            if (_deviceActors.TryGetValue(spare, out var actor))
                actor.Tell(new WriteSuperblock(kSuperblockTag, _metadata.SuperblockFor(-1)));
        }
    }

    private void OnSuperblockAnswer(IoFailed? failed)
    {
        if (failed is null)
            return;
        if (failed.Role >= 0)
        {
            OnMemberFailed(failed.Role, $"superblock write failed: {failed.Reason}");
            return;
        }
        if (_deviceOfActor.TryGetValue(Sender, out var device) && _metadata.Spares.Contains(device))
        {
            _log.Warning("spare {0} failed its superblock write and is dropped: {1}", DeviceName(device), failed.Reason);
            Record(_metadata with { Spares = _metadata.Spares.Where(s => s != device).ToArray() }, () => StopDevice(device));
        }
    }

    private void OnDeviceTerminated(IActorRef actor)
    {
        FailDirectIoOf(actor);
        if (!_deviceOfActor.Remove(actor, out var device))
            return;
        _deviceActors.Remove(device);
        var slot = _metadata.Slots.FirstOrDefault(s => s.Device == device && s.State != MemberState.Faulty);
        if (slot is not null)
            OnMemberFailed(slot.Role, "its disk actor kept crashing and was stopped");
        else if (_metadata.Spares.Contains(device))
            Record(_metadata with { Spares = _metadata.Spares.Where(s => s != device).ToArray() });
    }

    private string DeviceName(int device) =>
        _devices.TryGetValue(device, out var d) ? d.Store.Name : _setup.DescribeDevice(device);

    private static string StateName(SlotRecord slot) => slot.State switch
    {
        MemberState.InSync => "in-sync",
        MemberState.Rebuilding => "rebuilding",
        _ => slot.Device < 0 ? "removed" : "faulty",
    };

    private List<MemberStatus> MemberStatuses() =>
        _metadata.Slots.Select(s => new MemberStatus(s.Role, s.Device, s.Device >= 0 ? DeviceName(s.Device) : "-", StateName(s)))
            .Concat(_metadata.Spares.Select(d => new MemberStatus(-1, d, DeviceName(d), "spare")))
            .ToList();
}
