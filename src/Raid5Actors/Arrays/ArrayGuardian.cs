using Akka.Actor;

namespace Raid5Actors.Arrays;

/// <summary>
/// Parent of one <see cref="ArrayActor"/>. An exception in the array actor is a bug, and restarting
/// it cannot work: its members' stores close with its children and its journal already holds the
/// array it was creating. So it is stopped instead (and logged), and this guardian stops with it;
/// the facade, watching the array actor, fails every call at once instead of letting it time out.
/// </summary>
public sealed class ArrayGuardian : UntypedActor
{
    private readonly IActorRef _array;

    public ArrayGuardian(Props arrayProps, string arrayName)
    {
        _array = Context.ActorOf(arrayProps, arrayName);
        Context.Watch(_array);
    }

    public static Props Props(Props arrayProps, string arrayName) =>
        Akka.Actor.Props.Create(() => new ArrayGuardian(arrayProps, arrayName));

    /// <summary>Starts an array actor under its own guardian and returns the array actor.</summary>
    public static async Task<IActorRef> StartAsync(IActorRefFactory system, Props arrayProps, string arrayName, TimeSpan timeout)
    {
        var guardian = system.ActorOf(Props(arrayProps, arrayName), $"{arrayName}-guardian");
        return await guardian.Ask<IActorRef>(GetArray.Instance, timeout).ConfigureAwait(false);
    }

    public sealed class GetArray
    {
        public static readonly GetArray Instance = new();

        private GetArray()
        {
        }
    }

    protected override SupervisorStrategy SupervisorStrategy() => Akka.Actor.SupervisorStrategy.StoppingStrategy;

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case GetArray:
                Sender.Tell(_array);
                break;
            case Terminated t when t.ActorRef.Equals(_array):
                Context.Stop(Self);
                break;
            default:
                Unhandled(message);
                break;
        }
    }
}
